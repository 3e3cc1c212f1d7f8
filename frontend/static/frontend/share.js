// "Share your trip" (frontend/trips/_share.html), progressive only: without this module
// every button is a form that works, and the copy link is a read-only field.
// - The share menu (Web Share API) appears where the browser has one: the press asks our
//   server for the tracked link (JSON) and hands it to the menu.
// - Copy puts the shown link on the clipboard, else selects it.
// - Messenger: a phone's browser gets the app's own link, a computer the web dialog.

const panel = document.querySelector("[data-share-panel]");

if (panel) {
  const list = panel.querySelector("[data-share-list]");
  if (list && /Android|iPhone|iPad|iPod/i.test(navigator.userAgent)) {
    list.dataset.phone = "";
  }

  const menu = panel.querySelector("[data-share-menu]");
  if (menu && typeof navigator.share === "function") {
    menu.hidden = false;
    const form = menu.querySelector("form");
    const button = form.querySelector("button");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const answer = await fetch(form.action, {
          method: "POST",
          body: new FormData(form),
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
        if (!answer.ok) throw new Error(String(answer.status));
        const shared = await answer.json();
        await navigator.share({ title: button.dataset.shareTitle, text: shared.text, url: shared.url });
      } catch {
        // Cancelled, or the browser refused: the other buttons remain.
      }
    });
  }

  const copyBox = panel.querySelector("[data-share-copy]");
  if (copyBox) {
    const input = copyBox.querySelector("[data-share-link]");
    const copy = copyBox.querySelector("[data-share-copy-button]");
    const select = () => {
      input.focus();
      input.select();
    };
    input.addEventListener("focus", select);
    const label = copy.textContent;
    copy.hidden = false;
    copy.addEventListener("click", async () => {
      try {
        if (!navigator.clipboard || !window.isSecureContext) throw new Error("no clipboard");
        await navigator.clipboard.writeText(input.value);
        copy.textContent = copyBox.dataset.copiedLabel;
      } catch {
        select();
        copy.textContent = copyBox.dataset.copyFailedLabel;
      }
      window.setTimeout(() => {
        copy.textContent = label;
      }, 2500);
    });
  }
}
