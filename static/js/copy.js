// "Copy link" buttons (progressive enhancement: without JS the read-only field shows the URL
// to select and copy). A button names its field in data-copy; content htmx swaps in counts.
function enhance(root) {
  for (const button of root.querySelectorAll("button[data-copy][hidden]")) {
    const field = document.getElementById(button.dataset.copy);
    if (!field || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
        button.textContent = "Copied";
      } catch {
        button.textContent = "Press Ctrl+C to copy";
      }
    });
  }
}
enhance(document);
document.addEventListener("htmx:load", (event) => enhance(event.target));
