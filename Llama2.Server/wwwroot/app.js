import { readServerSentEvents } from "./sse.js";
import { errorMessage, streamErrorMessage } from "./errors.js";
import { initChat, chatLimits } from "./chat.js";
import * as view from "./view.js";

const $ = id => document.getElementById(id);
const form = $("form"), prompt = $("prompt"), maxNewTokens = $("max_new_tokens");
const echo = $("echo"), generated = $("generated"), output = $("output"), errorBox = $("error");
const generateButton = $("generate"), stopButton = $("stop-button");

let info = null;            // GET /info, once the model is loaded
let promptTokens = null;    // tokens of the current prompt (BOS included), from POST /tokenize
let maxTouched = false;     // the user set max new tokens: stop adjusting it to the room left
let controller = null;      // the running generation's AbortController
const narrow = matchMedia("(max-width: 760px)"); // one column (style.css): the output is below the form

form.addEventListener("submit", event => { event.preventDefault(); generate(); });
stopButton.addEventListener("click", stop);
maxNewTokens.addEventListener("input", () => { maxTouched = true; });
prompt.addEventListener("input", debounce(countPromptTokens, 250));
document.addEventListener("keydown", event => {
  if ($("complete").hidden) return; // the chat tab has its own keys
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); generate(); }
  else if (event.key === "Escape" && controller) { event.preventDefault(); stop(); }
});
initTabs();
initChat();
loadInfo();

// ---- tabs: Complete (TGI's /generate_stream) and Chat (OpenAI's /v1/chat/completions) ----

function initTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const show = tab => {
    for (const t of tabs) {
      const selected = t === tab;
      t.setAttribute("aria-selected", String(selected));
      t.tabIndex = selected ? 0 : -1;
      $(t.getAttribute("aria-controls")).hidden = !selected;
    }
    history.replaceState(null, "", tab.id === "tab-chat" ? "#chat" : location.pathname + location.search);
  };
  for (const tab of tabs) {
    tab.addEventListener("click", () => show(tab));
    tab.addEventListener("keydown", event => { // arrow keys move between tabs
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length];
      next.focus();
      show(next);
    });
  }
  if (location.hash === "#chat") show($("tab-chat"));
}

// ---- model information and limits ----

async function loadInfo() {
  for (let attempt = 0; ; attempt++) {
    try {
      const response = await fetch("info", { cache: "no-store" });
      if (response.ok) { info = await response.json(); break; }
      $("model").textContent = response.status === 503 ? "The model is loading…" : `Model information unavailable (HTTP ${response.status})`;
    } catch {
      $("model").textContent = "Cannot reach the server; retrying…";
    }
    await delay(Math.min(5000, 500 * (attempt + 1)));
  }
  const m = info.model;
  $("model").textContent = `${info.model_id} · ${formatCount(m.parameters)} parameters · dim ${m.dim}, ` +
    `${m.n_layers} layers, ${m.n_heads} heads (${m.n_kv_heads} kv) · vocab ${m.vocab_size} · context ${m.seq_len} · ` +
    (info.quantization === "none" ? shortDtype(info.model_dtype) : `int8 ${info.quantization}`) + ` · ${info.format}`;
  $("model").title = `${info.router} ${info.version} · ${info.model_dtype} on ${info.model_device_type}, ` +
    `${info.threads} threads · ${info.max_concurrent_sequences} sequences at once, queue of ${info.max_queue_length}`;
  countPromptTokens();
  chatLimits(info);
}

// Counts the prompt's tokens, and limits max new tokens to what the context has room for.
async function countPromptTokens() {
  if (!info) return;
  const text = prompt.value;
  if (text === "") { promptTokens = null; showLimits(); return; }
  try {
    const response = await fetch("tokenize", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ inputs: text }),
    });
    if (!response.ok || prompt.value !== text) return; // too long (the server says so on Generate), or stale
    promptTokens = (await response.json()).length;
    showLimits();
  } catch { /* the count is a hint only */ }
}

function showLimits() {
  const room = info.max_total_tokens - (promptTokens ?? 1);
  // A server that shifts by default goes on past the context: only max_new_tokens' own limit applies.
  const max = info.context_shift ? info.max_new_tokens : Math.max(1, Math.min(info.max_new_tokens, room));
  maxNewTokens.max = max;
  if (!maxTouched && Number(maxNewTokens.value) > max) maxNewTokens.value = max;
  $("prompt-tokens").textContent = promptTokens === null ? "" :
    room > 0 ? `${promptTokens} tokens · room for ${room} more` + (info.context_shift ? " before the context shifts" : "")
      : `${promptTokens} tokens · longer than the context` + (info.context_shift ? " (it will be shifted)" : "");
}

// ---- generation ----

function parameters() {
  const number = id => $(id).value.trim() === "" ? undefined : Number($(id).value);
  const stop = $("stop").value.split("\n")
    .map(s => s.replaceAll("\\n", "\n").replaceAll("\\t", "\t"))
    .filter(s => s.trim().length > 0);
  const p = {
    max_new_tokens: number("max_new_tokens"),
    temperature: number("temperature"),
    top_p: number("top_p"),
    top_k: number("top_k") || undefined, // 0 = off
    seed: number("seed"),
    stop: stop.length ? stop : undefined,
    details: true,
  };
  if (p.temperature === 0) { // greedy, as TGI: no sampling parameter at all
    p.do_sample = false;
    delete p.temperature; delete p.top_p; delete p.top_k; delete p.seed;
  }
  return p;
}

async function generate() {
  if (controller) return;
  if (!form.reportValidity()) return;
  controller = new AbortController();
  const started = performance.now();
  let firstTokenAt = null, tokens = 0, finished = false;
  echo.textContent = "";
  generated.textContent = "";
  view.hideError(errorBox);
  view.setStats("stat-", { tokens: 0, ttft: "–", tps: "–", finish: "–" });
  setState("running");
  if (narrow.matches) $("result").scrollIntoView({ behavior: "smooth", block: "start" });

  try {
    const response = await fetch("generate_stream", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "text/event-stream" },
      body: JSON.stringify({ inputs: prompt.value, parameters: parameters() }),
      signal: controller.signal,
    });
    if (!response.ok) { view.showError(errorBox, await errorMessage(response)); setState("error"); return; }
    echo.textContent = prompt.value;

    for await (const event of readServerSentEvents(response)) {
      if (event.error) { view.showError(errorBox, `Generation failed: ${streamErrorMessage(event)}`); setState("error"); return; }
      if (event.token) {
        const now = performance.now();
        tokens++;
        firstTokenAt ??= now;
        if (event.token.text) generated.append(event.token.text);
        view.setStats("stat-", {
          tokens,
          ttft: `${Math.round(firstTokenAt - started)} ms`,
          tps: now > started ? (tokens / ((now - started) / 1000)).toFixed(1) : "–",
        });
      }
      if (event.details) {
        finished = true;
        view.setStats("stat-", { tps: event.details.tokens_per_second.toFixed(1), finish: event.details.finish_reason.replace("_", " ") });
      }
    }
    setState(finished ? "done" : "error");
    if (!finished) view.showError(errorBox, "The stream ended before the generation finished.");
  } catch (e) {
    if (e.name === "AbortError") { view.setStats("stat-", { finish: "stopped" }); setState("stopped"); }
    else { view.showError(errorBox, `Cannot reach the server: ${e.message}`); setState("error"); }
  } finally {
    controller = null;
  }
}

// Aborting the fetch closes the connection; the server stops the sequence at its next token and frees its slot.
function stop() {
  controller?.abort();
}

// ---- view ----

function setState(state) {
  const running = state === "running";
  document.body.dataset.state = state;
  generateButton.disabled = running;
  stopButton.disabled = !running;
  output.setAttribute("aria-busy", String(running));
}

// /info's model_dtype as the playground names it.
function shortDtype(dtype) {
  return { float32: "fp32", bfloat16: "bf16", float16: "fp16" }[dtype] ?? dtype;
}

function formatCount(n) {
  return n >= 1e9 ? `${(n / 1e9).toFixed(1)}B` : n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)}K` : `${n}`;
}

function debounce(f, ms) {
  let timer;
  return () => { clearTimeout(timer); timer = setTimeout(f, ms); };
}

function delay(ms) {
  return new Promise(resolve => setTimeout(resolve, ms));
}
