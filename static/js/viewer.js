// The image viewer's keys (the page works without them): arrows follow the previous and next
// links, Escape goes back to the post.
document.addEventListener("keydown", (event) => {
  if (event.altKey || event.ctrlKey || event.metaKey || event.target.closest("input, textarea, select")) return;
  const selector = { ArrowLeft: "a[rel=prev]", ArrowRight: "a[rel=next]", Escape: "a[data-viewer-close]" }[event.key];
  const link = selector && document.querySelector(`.viewer ${selector}`);
  if (link) link.click();
});
