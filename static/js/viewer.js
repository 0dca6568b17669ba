// The full-size viewer. Every page works without this script: on the viewer's own page
// (/posts/42/images/1) ←, → and Escape follow its Previous, Next and Back links. Elsewhere a
// click on an image that names its viewer (a[data-viewer]: feed cards, the post page) opens the
// same viewer in a <dialog> over the page: its fragment is fetched, the URL becomes the
// image's (a reload shows the viewer page), ←/→ move within the post, and Escape, the close
// button or Back close it and return focus to the image that opened it.
let dialog, opener, pushed, under, startX, loading;

function key(event) {
  if (event.altKey || event.ctrlKey || event.metaKey || event.target.closest("input, textarea, select")) return;
  const root = dialog?.open ? dialog : document.querySelector("main");
  const selector = { ArrowLeft: "a[rel=prev]", ArrowRight: "a[rel=next]", Escape: "a[data-viewer-close]" }[event.key];
  const link = selector && !(dialog?.open && event.key === "Escape") && root.querySelector(`.viewer ${selector}`);
  if (link) link.click();
}

async function show(url) {
  // no-store: the fragment must never be what a later visit to the URL finds in the cache
  const response = await fetch(url, { headers: { "HX-Request": "true", "HX-Target": "viewer" }, cache: "no-store" });
  if (!response.ok) return false;
  dialog.querySelector(".viewer-body").innerHTML = await response.text();
  return true;
}

async function open(url, push = true) {
  if (!dialog) {
    dialog = document.createElement("dialog");
    dialog.className = "viewer-dialog";
    dialog.setAttribute("aria-labelledby", "viewer-title");
    dialog.innerHTML = '<button type="button" class="viewer-close">Close<span class="visually-hidden"> the viewer</span></button><div class="viewer-body"></div>';
    dialog.addEventListener("click", inDialog);
    // a sideways swipe on a touch screen moves like the arrows
    dialog.addEventListener("touchstart", (event) => (startX = event.changedTouches[0].clientX), { passive: true });
    dialog.addEventListener("touchend", (event) => {
      const dx = event.changedTouches[0].clientX - startX;
      if (Math.abs(dx) > 50) dialog.querySelector(`.viewer a[rel=${dx < 0 ? "next" : "prev"}]`)?.click();
    });
    dialog.addEventListener("close", closed);
    document.body.append(dialog);
  }
  // the server said no, or the network did: go to the viewer's page the plain way
  if (!(await show(url).catch(() => false))) return location.assign(url);
  dialog.showModal();
  dialog.querySelector(".viewer-close").focus();
  if (push) {
    under = location.pathname;
    history.pushState({ viewer: url }, "", url);
  }
  pushed = true;
}

async function inDialog(event) {
  const back = event.target.closest(".viewer-close, a[data-viewer-close]");
  // "Back to the post" over that very post closes; over a feed it goes to the post
  if (back && (!back.href || new URL(back.href).pathname === under)) {
    event.preventDefault();
    return dialog.close();
  }
  const link = event.target.closest("a[rel=prev], a[rel=next]");
  if (!link) return;
  // moving within the post replaces the entry: Back closes the viewer, as on the page
  event.preventDefault();
  if (await show(link.href).catch(() => false)) {
    history.replaceState({ viewer: link.href }, "", link.href);
    (dialog.querySelector(`a[rel=${link.rel}]`) || dialog.querySelector(".viewer-close")).focus();
  }
}

function closed() {
  dialog.querySelector(".viewer-body").replaceChildren();
  if (pushed) {
    pushed = false;
    history.back();
  }
  opener?.focus();
}

document.addEventListener("keydown", key);
// A carousel's Previous/Next link jumps the page to the slide's id without scripts; here the
// carousel scrolls sideways in place and the keyboard focus moves to the new slide's arrow.
function step(link) {
  const slide = document.getElementById(link.hash.slice(1));
  if (!slide) return false;
  const still = matchMedia("(prefers-reduced-motion: reduce)").matches;
  slide.scrollIntoView({ block: "nearest", inline: "start", behavior: still ? "auto" : "smooth" });
  const way = link.classList.contains("next") ? "next" : "prev";
  (slide.querySelector(`a.step.${way}`) || slide.querySelector("a.step"))?.focus({ preventScroll: true });
  return true;
}

document.addEventListener("click", (event) => {
  const arrow = event.target.closest(".carousel a.step");
  if (arrow) {
    if (step(arrow)) event.preventDefault();
    return;
  }
  const link = event.target.closest("a[data-viewer]");
  if (!link || event.button || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
  event.preventDefault();
  if (loading || dialog?.open) return; // a second click while the first one loads
  opener = link;
  loading = open(link.dataset.viewer).finally(() => (loading = null));
});
window.addEventListener("popstate", (event) => {
  if (dialog?.open) {
    pushed = false; // Back already left the image's URL
    dialog.close();
  } else if (event.state?.viewer) {
    open(event.state.viewer, false); // Forward to an image the viewer showed
  }
});
