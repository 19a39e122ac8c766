import { readServerSentEvents } from "./sse.js";
import { errorMessage, streamErrorMessage } from "./errors.js";
import * as view from "./view.js";

// The Chat tab: a conversation with the model through OpenAI's /v1/chat/completions, streamed. The whole
// conversation (system prompt, then the user's and the assistant's messages) goes with every request; the server
// encodes it with the Llama 2 chat template.

const $ = id => document.getElementById(id);
const panel = $("chat"), settings = $("chat-settings"), composer = $("composer"), input = $("chat-input");
const conversation = $("conversation"), errorBox = $("chat-error");
const sendButton = $("send"), stopButton = $("chat-stop"), maxTokens = $("chat-max-tokens");

const messages = [];    // the finished turns: {role: "user" | "assistant", content}
let controller = null;  // the running reply's AbortController
let chatNumber = 0;     // New chat starts another: a reply stopped by it is forgotten
let modelId = "default";

export function initChat() {
  composer.addEventListener("submit", event => { event.preventDefault(); send(); });
  stopButton.addEventListener("click", stop);
  $("new-chat").addEventListener("click", newChat);
  input.addEventListener("keydown", event => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); send(); }
  });
  document.addEventListener("keydown", event => {
    if (!panel.hidden && event.key === "Escape" && controller) { event.preventDefault(); stop(); }
  });
}

// Once /info is known: the model's name for requests, and the most tokens a reply may ask for.
export function chatLimits(info) {
  modelId = info.model_id;
  maxTokens.max = info.context_shift ? info.max_new_tokens : Math.min(info.max_new_tokens, info.max_total_tokens - 1);
  if (Number(maxTokens.value) > Number(maxTokens.max)) maxTokens.value = maxTokens.max;
}

function parameters() {
  const number = id => $(id).value.trim() === "" ? undefined : Number($(id).value);
  return {
    max_tokens: number("chat-max-tokens"),
    temperature: number("chat-temperature"),
    top_p: number("chat-top-p"),
    seed: number("chat-seed"),
  };
}

async function send() {
  const text = input.value;
  if (controller || text.trim() === "" || !settings.reportValidity()) return;
  const system = $("system").value.trim();
  const request = [...(system ? [{ role: "system", content: system }] : []), ...messages, { role: "user", content: text }];

  view.hideError(errorBox);
  input.value = "";
  const userItem = addMessage("user", text);
  const replyItem = addMessage("assistant", "");
  const replyText = replyItem.querySelector(".text");
  const own = controller = new AbortController();
  const chat = chatNumber;
  const started = performance.now();
  let firstAt = null, chunks = 0, finish = null, usage = null;
  view.setStats("chat-stat-", { tokens: 0, ttft: "–", tps: "–", finish: "–" });
  setState("running");

  // The turn is taken back when it failed before anything came: the message returns to the input box.
  const takeBack = () => {
    userItem.remove();
    replyItem.remove();
    if (input.value === "") input.value = text;
  };

  try {
    const response = await fetch("v1/chat/completions", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "text/event-stream" },
      body: JSON.stringify({ model: modelId, messages: request, stream: true, stream_options: { include_usage: true }, ...parameters() }),
      signal: controller.signal,
    });
    if (!response.ok) { takeBack(); view.showError(errorBox, await errorMessage(response)); setState("error"); return; }

    for await (const chunk of readServerSentEvents(response)) {
      if (chunk.error) { takeBack(); view.showError(errorBox, `The reply failed: ${streamErrorMessage(chunk)}`); setState("error"); return; }
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices?.[0];
      if (!choice) continue;
      if (choice.delta?.content) {
        const now = performance.now();
        firstAt ??= now;
        chunks++;
        replyText.append(choice.delta.content);
        conversation.scrollTop = conversation.scrollHeight;
        view.setStats("chat-stat-", { tokens: chunks, ttft: `${Math.round(firstAt - started)} ms`, tps: (chunks / ((now - started) / 1000)).toFixed(1) });
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    if (!finish) { takeBack(); view.showError(errorBox, "The stream ended before the reply finished."); setState("error"); return; }
    messages.push({ role: "user", content: text }, { role: "assistant", content: replyText.textContent });
    const tokens = usage?.completion_tokens ?? chunks;
    view.setStats("chat-stat-", { tokens, tps: (tokens / ((performance.now() - started) / 1000)).toFixed(1), finish });
    setState("done");
  } catch (e) {
    if (e.name !== "AbortError") { takeBack(); view.showError(errorBox, `Cannot reach the server: ${e.message}`); setState("error"); return; }
    if (chat !== chatNumber) return; // stopped by New chat: the conversation is gone
    // Stopped: a reply cut short stays in the conversation, as far as it got; an empty one is taken back.
    if (replyText.textContent === "") takeBack();
    else {
      replyItem.classList.add("stopped");
      messages.push({ role: "user", content: text }, { role: "assistant", content: replyText.textContent });
    }
    view.setStats("chat-stat-", { finish: "stopped" });
    setState("stopped");
  } finally {
    if (controller === own) controller = null;
    input.focus();
  }
}

// Aborting the fetch closes the connection; the server stops the sequence at its next token and frees its slot.
function stop() {
  controller?.abort();
}

function newChat() {
  stop();
  chatNumber++;
  messages.length = 0;
  conversation.replaceChildren();
  view.hideError(errorBox);
  view.setStats("chat-stat-", { tokens: 0, ttft: "–", tps: "–", finish: "–" });
  setState("idle");
  input.focus();
}

// ---- view ----

function addMessage(role, text) {
  const item = document.createElement("li");
  item.className = `message ${role}`;
  const label = document.createElement("span");
  label.className = "role";
  label.textContent = role === "user" ? "You" : "Assistant";
  const body = document.createElement("div");
  body.className = "text";
  body.textContent = text;
  item.append(label, body);
  conversation.append(item);
  conversation.scrollTop = conversation.scrollHeight;
  return item;
}

function setState(state) {
  const running = state === "running";
  panel.dataset.state = state;
  sendButton.disabled = running;
  stopButton.disabled = !running;
  conversation.setAttribute("aria-busy", String(running));
}

