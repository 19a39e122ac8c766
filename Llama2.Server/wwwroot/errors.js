// The sentence to show for an error answer, from TGI's body ({"error": "..."}) or OpenAI's ({"error": {"message"}}).
export async function errorMessage(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON */ }
  const detail = (typeof body?.error === "string" ? body.error : body?.error?.message) ?? (response.statusText || "no details");
  switch (response.status) {
    case 400: case 422: return `Invalid request: ${detail}`;
    case 429: {
      const retry = response.headers.get("Retry-After");
      return `The server is busy: every sequence slot is taken and the queue is full. ` +
        `Try again${retry ? ` in ${retry} s` : " shortly"}.`;
    }
    case 413: return `The request is too large: ${detail}`;
    case 503: return `The model is not ready yet (${detail}). Try again in a moment.`;
    default: return `The server answered ${response.status}: ${detail}`;
  }
}

// The message of an error event inside a stream (TGI's or OpenAI's body).
export function streamErrorMessage(event) {
  return typeof event.error === "string" ? event.error : event.error?.message ?? "unknown error";
}
