// Server-Sent Events over fetch (EventSource cannot POST): yields the parsed JSON of each event's data as it
// arrives; OpenAI's closing "data: [DONE]" ends the stream. Comment lines (": keep-alive") and other fields are
// skipped. Stopping early (break, an exception, or the fetch's AbortSignal) cancels the response body, so the server
// sees the client go away and frees the sequence.
export async function* readServerSentEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let done = false;
  try {
    while (true) {
      const chunk = await reader.read();
      if (chunk.done) { done = true; break; }
      buffer += chunk.value;
      let end;
      while ((end = eventEnd(buffer)) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^(\r\n|\r|\n){2}/, "");
        const data = dataOf(block);
        if (data === "[DONE]") return;
        if (data !== null) yield JSON.parse(data);
      }
    }
    const data = dataOf(buffer); // a last event without its blank line
    if (data !== null && data !== "[DONE]") yield JSON.parse(data);
  } finally {
    if (!done) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

// Index of the blank line that ends the first event in text, or -1.
function eventEnd(text) {
  const match = /(\r\n|\r|\n)(\r\n|\r|\n)/.exec(text);
  return match ? match.index : -1;
}

// The event's data lines joined with newlines (per the SSE spec), or null when it has none.
function dataOf(block) {
  const lines = block.split(/\r\n|\r|\n/).filter(line => line === "data" || line.startsWith("data:"));
  if (lines.length === 0) return null;
  return lines.map(line => line.slice(5).replace(/^ /, "")).join("\n");
}
