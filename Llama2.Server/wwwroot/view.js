// What both tabs show the same way: an error box and the stats line.

export function showError(box, message) {
  box.textContent = message;
  box.hidden = false;
}

export function hideError(box) {
  box.hidden = true;
  box.textContent = "";
}

// Sets the stats whose elements are prefix + key (e.g. "stat-" + "tokens").
export function setStats(prefix, values) {
  for (const [key, value] of Object.entries(values)) document.getElementById(prefix + key).textContent = value;
}
