/* Omnichat widget, loaded when the panel first opens or a message with files arrives: the
 * attach button, drag and drop onto the panel, previews and upload progress with cancel before
 * sending, and the files of messages (images as thumbnails, others as download links). */
const STRINGS = {
  attach: "Attach a file",
  files: "Files to send",
  remove: "Remove {name}",
  cancelUpload: "Cancel upload of {name}",
  uploading: "Uploading {name}",
  tooBig: "{name} is too big: files can be at most {max}.",
  badType: "{name} cannot be sent: send a photo (PNG, JPEG, GIF, WebP), a PDF or a text file.",
  tooMany: "Too many files at once: wait a minute and try again.",
  maxFiles: "A message can carry at most 5 files.",
  waitUpload: "Wait for the upload to finish, or cancel it.",
  expired: "File expired",
  dropHere: "Drop files to attach them",
};
const CSS = `
.attach{flex:none}
.tray{display:flex;flex-wrap:wrap;gap:8px;margin:0;padding:8px 12px 0;list-style:none}
.tray:empty{display:none}
.chip{display:flex;align-items:center;gap:6px;max-width:100%;padding:4px 4px 4px 8px;
  border:1px solid var(--oc-border);border-radius:8px;font-size:14px}
.chip img{width:40px;height:40px;object-fit:cover;border-radius:4px}
.chip .name{max-width:140px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.chip progress{width:60px}
.chip button{width:32px;height:32px;border:0;border-radius:6px;background:none;font-size:18px}
.dropping{outline:3px dashed var(--oc-primary);outline-offset:-6px}
.files{display:flex;flex-direction:column;gap:4px;margin-top:4px;align-items:inherit}
.visitor .files{align-items:flex-end}
.files img{display:block;max-width:220px;max-height:220px;width:auto;height:auto;
  border-radius:8px;background:var(--oc-bubble)}
.files a.file{display:inline-block;padding:6px 10px;border-radius:8px;background:var(--oc-bubble);
  color:var(--oc-text);overflow-wrap:anywhere}
.files .gone{color:var(--oc-muted);font-style:italic}`;
const MAX_FILES = 5;

/** "1.2 MB", "340 KB", "12 bytes". */
export function size(bytes) {
  if (bytes >= 1048576) return (bytes / 1048576).toFixed(1) + " MB";
  if (bytes >= 1024) return Math.round(bytes / 1024) + " KB";
  return bytes + " bytes";
}

export default function (kit) {
  for (const key in STRINGS) if (!(key in kit.strings)) kit.strings[key] = STRINGS[key];
  kit.sheet(CSS);
  const { el, attrs, strings } = kit;
  const text = (key, name) =>
    strings[key].replace("{name}", name || "").replace("{max}", size(limits().max_bytes));
  const limits = () =>
    Object.assign({ max_bytes: 10485760, types: [] }, kit.site().attachments || {});

  // ---- choosing files

  const picker = attrs(el("input"), { type: "file", multiple: "", tabindex: "-1" });
  picker.hidden = true;
  kit.say(picker, "attach", "aria-label");
  const types = limits().types;
  if (types.length) picker.accept = types.join(",");
  const button = kit.button("icon attach", "attach", "📎");
  kit.composer.prepend(button, picker);
  const tray = el("ul", "tray");
  kit.say(tray, "files", "aria-label");
  kit.composer.before(tray);
  button.addEventListener("click", () => picker.click());
  picker.addEventListener("change", () => {
    add(picker.files);
    picker.value = "";
  });
  let depth = 0;
  const dragging = (event) => event.dataTransfer && event.dataTransfer.types.includes("Files");
  kit.panel.addEventListener("dragenter", (event) => {
    if (!dragging(event)) return;
    depth++;
    kit.panel.classList.add("dropping");
  });
  kit.panel.addEventListener("dragleave", () => {
    if (--depth <= 0) kit.panel.classList.remove("dropping");
  });
  kit.panel.addEventListener("dragover", (event) => {
    if (dragging(event)) event.preventDefault();
  });
  kit.panel.addEventListener("drop", (event) => {
    depth = 0;
    kit.panel.classList.remove("dropping");
    if (!dragging(event)) return;
    event.preventDefault();
    add(event.dataTransfer.files);
  });
  kit.input.addEventListener("paste", (event) => {
    const files = event.clipboardData && event.clipboardData.files;
    if (files && files.length) {
      event.preventDefault();
      add(files);
    }
  });

  // ---- uploading, with a chip per file

  const pending = []; // {file, chip, xhr, attachment}
  function add(list) {
    for (const file of Array.from(list || [])) {
      if (pending.length >= MAX_FILES) return kit.showProblem(strings.maxFiles);
      if (file.size > limits().max_bytes) {
        kit.showProblem(text("tooBig", file.name));
        continue;
      }
      upload(file);
    }
  }
  function drop(item) {
    if (item.xhr) item.xhr.abort();
    const at = pending.indexOf(item);
    if (at >= 0) pending.splice(at, 1);
    if (item.preview) URL.revokeObjectURL(item.preview);
    item.chip.remove();
  }
  async function upload(file) {
    const item = { file };
    pending.push(item);
    const chip = (item.chip = el("li", "chip"));
    if (/^image\/(png|jpeg|gif|webp)$/.test(file.type)) {
      item.preview = URL.createObjectURL(file);
      chip.append(attrs(el("img"), { src: item.preview, alt: "" }));
    }
    const progress = attrs(el("progress"), { max: "1", value: "0" });
    progress.setAttribute("aria-label", text("uploading", file.name));
    const remove = attrs(el("button", "", "×"), { type: "button" });
    remove.setAttribute("aria-label", text("cancelUpload", file.name));
    remove.addEventListener("click", () => {
      drop(item);
      kit.input.focus();
    });
    chip.append(el("span", "name", file.name), progress, remove);
    tray.append(chip);
    try {
      await kit.session();
    } catch (e) {
      drop(item);
      return kit.showProblem(e.message);
    }
    if (!pending.includes(item)) return; // cancelled meanwhile
    const xhr = (item.xhr = new XMLHttpRequest());
    xhr.open("POST", kit.BASE + "/api/v1/widget/attachments");
    xhr.setRequestHeader("Authorization", "Bearer " + kit.token());
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) progress.value = event.loaded / event.total;
    });
    xhr.addEventListener("load", () => {
      item.xhr = null;
      const body = xhr.response || {};
      if (xhr.status === 201 && body.attachment) {
        item.attachment = body.attachment;
        progress.remove();
        remove.setAttribute("aria-label", text("remove", file.name));
        return;
      }
      drop(item);
      if (xhr.status === 401) kit.renew();
      const key = { 413: "tooBig", 415: "badType", 429: "tooMany" }[xhr.status];
      kit.showProblem(key ? text(key, file.name) : (body.error && body.error.message) || strings.failed);
    });
    xhr.addEventListener("error", () => {
      drop(item);
      kit.showProblem(strings.failed);
    });
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  }
  // The composer takes the uploaded files' ids when the message is sent.
  kit.files = () => {
    if (pending.some((item) => !item.attachment)) {
      kit.showProblem(strings.waitUpload);
      return null;
    }
    const ids = pending.map((item) => item.attachment.id);
    pending.slice().forEach(drop);
    return ids;
  };

  // ---- files in messages

  /** Show a message's files in `box`: images as thumbnails, others as links with their size. */
  function show(box, message) {
    if (!message.text) box.previousSibling.hidden = true; // no empty bubble above the files
    for (const file of message.attachments) {
      if (file.expired || !file.url) {
        box.append(el("span", "gone", strings.expired + ": " + file.name));
        continue;
      }
      const link = attrs(el("a", "file"), {
        href: kit.BASE + file.url,
        target: "_blank",
        rel: "noopener noreferrer",
      });
      if (/^image\//.test(file.type)) {
        link.className = "";
        link.append(attrs(el("img"), { src: kit.BASE + file.url, alt: file.name, loading: "lazy" }));
      } else {
        link.setAttribute("download", file.name);
        link.textContent = file.name + " (" + size(file.size) + ")";
      }
      box.append(link);
    }
  }
  return { show };
}
