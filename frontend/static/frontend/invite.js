// The invite panel of the trip page, once a link was made: a Copy button (the clipboard,
// else the link is selected for the person to copy) and a Share… button where the Web
// Share API exists. Progressive enhancement only: without this module the link is still in
// a read-only field and the Messenger, WhatsApp and e-mail links are plain links.

const panel = document.querySelector("[data-invite]");

if (panel) {
  const input = panel.querySelector("[data-invite-link]");
  const copy = panel.querySelector("[data-invite-copy]");
  const share = panel.querySelector("[data-invite-share]");
  const link = input.value;

  const selectLink = () => {
    input.focus();
    input.select();
    input.setSelectionRange(0, link.length);
  };

  input.addEventListener("focus", selectLink);

  // A phone's browser opens Messenger's own share link; a computer, the web Send dialog.
  const shareList = panel.querySelector("[data-share-list]");
  if (shareList && /Android|iPhone|iPad|iPod/i.test(navigator.userAgent)) {
    shareList.dataset.phone = "";
  }

  if (copy) {
    const label = copy.textContent;
    copy.hidden = false;
    copy.addEventListener("click", async () => {
      try {
        if (!navigator.clipboard || !window.isSecureContext) throw new Error("no clipboard");
        await navigator.clipboard.writeText(link);
        copy.textContent = panel.dataset.copiedLabel;
        copy.dataset.copied = "true";
      } catch {
        selectLink();
        copy.textContent = panel.dataset.copyFailedLabel;
      }
      window.setTimeout(() => {
        copy.textContent = label;
        delete copy.dataset.copied;
      }, 2500);
    });
  }

  if (share && typeof navigator.share === "function") {
    share.hidden = false;
    share.addEventListener("click", async () => {
      try {
        await navigator.share({
          title: share.dataset.shareTitle,
          text: share.dataset.shareText,
          url: link,
        });
      } catch {
        // Cancelled by the person, or refused by the browser: the other ways remain.
      }
    });
  }
}
