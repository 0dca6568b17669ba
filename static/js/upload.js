// Upload progress for htmx form posts (progressive enhancement: the form works without it).
document.addEventListener("htmx:xhr:progress", (event) => {
  const form = event.target.closest(".upload-form");
  const bar = form && form.querySelector(".upload-progress");
  if (!bar || !event.detail.lengthComputable) return;
  bar.hidden = false;
  bar.value = Math.round((event.detail.loaded / event.detail.total) * 100);
});
