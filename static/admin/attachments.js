// Files in the transcript and in the reply box: thumbnails that open a viewer, download chips
// for PDFs and others, and the tray of uploads (progress, cancel, remove) waiting for Send.

import { upload } from "./api.js";
import { h } from "./dom.js";

const MAX_FILES = 5;
const IMAGE = /^image\/(png|jpeg|gif|webp)$/;
const REASONS = {
  413: "is too big to send",
  415: "is of a type that cannot be sent (photos, PDFs and text files can)",
  429: "was refused: too many uploads, wait a minute",
};

/** "1.2 MB", "340 KB", "12 bytes". */
export function fileSize(bytes) {
  if (bytes >= 1048576) return `${(bytes / 1048576).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} bytes`;
}

let viewer = null;

/** Show an image whole in a modal dialog; Esc or Close shuts it and focus goes back. */
export function view(file, opener) {
  if (!viewer) {
    const image = h("img", { class: "viewer-image", alt: "" });
    const caption = h("p", { class: "viewer-caption" });
    const download = h("a", { class: "viewer-download", target: "_blank", rel: "noopener" });
    const close = h("button", { type: "button", class: "ghost" }, "Close");
    const dialog = h(
      "dialog",
      { class: "viewer", "aria-label": "Image" },
      h("div", { class: "viewer-bar" }, caption, download, close),
      image,
    );
    close.addEventListener("click", () => dialog.close());
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) dialog.close(); // a click on the backdrop
    });
    document.body.append(dialog);
    viewer = { dialog, image, caption, download, opener: null };
    dialog.addEventListener("close", () => {
      viewer.image.removeAttribute("src");
      if (viewer.opener && viewer.opener.isConnected) viewer.opener.focus();
    });
  }
  viewer.opener = opener;
  viewer.image.src = file.url;
  viewer.image.alt = file.name;
  viewer.caption.textContent = `${file.name} · ${fileSize(file.size)}`;
  viewer.download.href = file.url;
  viewer.download.textContent = "Open in a new tab";
  viewer.dialog.setAttribute("aria-label", file.name);
  viewer.dialog.showModal();
}

/** A message's files: images as thumbnails opening the viewer, others as download chips. */
export function attachmentsElement(files) {
  return h(
    "div",
    { class: "attachments" },
    files.map((file) => {
      if (file.expired || !file.url) {
        return h("span", { class: "file-chip expired" }, `File expired: ${file.name}`);
      }
      if (IMAGE.test(file.type)) {
        const thumb = h(
          "button",
          { type: "button", class: "thumb", "aria-label": `View ${file.name}` },
          h("img", { src: file.url, alt: file.name, loading: "lazy" }),
        );
        thumb.addEventListener("click", () => view(file, thumb));
        return thumb;
      }
      return h(
        "a",
        { class: "file-chip", href: file.url, download: file.name, target: "_blank", rel: "noopener" },
        h("span", { class: "file-name" }, file.name),
        h("span", { class: "file-size" }, fileSize(file.size)),
      );
    }),
  );
}

/**
 * The reply box's uploads: `add(files)` starts them, `take()` hands over the ids of the finished
 * ones (null, with `onProblem` told, while one still uploads), `clear()` cancels them all.
 */
export function uploadTray(onProblem) {
  const list = h("ul", { class: "upload-tray", "aria-label": "Files to send" });
  const items = [];

  function remove(item) {
    item.upload.abort();
    const at = items.indexOf(item);
    if (at >= 0) items.splice(at, 1);
    if (item.preview) URL.revokeObjectURL(item.preview);
    item.element.remove();
  }

  function add(files) {
    for (const file of Array.from(files || [])) {
      if (items.length >= MAX_FILES) {
        onProblem(`A message can carry at most ${MAX_FILES} files.`);
        return;
      }
      start(file);
    }
  }

  function start(file) {
    const name = file.name || "pasted-image.png";
    const progress = h("progress", { max: 1, value: 0, "aria-label": `Uploading ${name}` });
    const button = h("button", { type: "button", class: "ghost", "aria-label": `Cancel ${name}` }, "×");
    const item = { file, element: null, attachment: null, preview: null, upload: null };
    if (IMAGE.test(file.type)) item.preview = URL.createObjectURL(file);
    item.element = h(
      "li",
      { class: "upload-chip" },
      item.preview ? h("img", { src: item.preview, alt: "" }) : null,
      h("span", { class: "file-name" }, name),
      progress,
      button,
    );
    button.addEventListener("click", () => remove(item));
    items.push(item);
    list.append(item.element);
    item.upload = upload(file, (share) => (progress.value = share));
    item.upload.done.then(
      (attachment) => {
        item.attachment = attachment;
        progress.replaceWith(h("span", { class: "file-size" }, fileSize(attachment.size)));
        button.setAttribute("aria-label", `Remove ${name}`);
      },
      (error) => {
        if (!items.includes(item)) return; // cancelled
        remove(item);
        if (error.code === "aborted") return;
        const reason = REASONS[error.status];
        onProblem(reason ? `${name} ${reason}: ${error.message}` : `${name}: ${error.message}`);
      },
    );
  }

  function take() {
    if (items.some((item) => !item.attachment)) {
      onProblem("Wait for the upload to finish, or cancel it.");
      return null;
    }
    const ids = items.map((item) => item.attachment.id);
    // Handed over: the files now belong to the reply, so they are not aborted, only let go.
    for (const item of items.splice(0)) {
      if (item.preview) URL.revokeObjectURL(item.preview);
      item.element.remove();
    }
    return ids;
  }

  function clear() {
    for (const item of items.slice()) remove(item);
  }

  return { element: list, add, take, clear };
}
