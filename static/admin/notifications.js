// Telling the agent something arrived: a short beep, a desktop notification (only after they
// allowed it from a button), and the unread count in the tab title.

const BASE_TITLE = "Omnichat";
const SOUND_KEY = "omnichat.sound";

let audio = null;

export function soundOn() {
  return localStorage.getItem(SOUND_KEY) !== "off";
}

export function setSound(on) {
  localStorage.setItem(SOUND_KEY, on ? "on" : "off");
  if (on) unlockAudio();
}

/** Browsers start audio only after a user gesture; call this from one (any click will do). */
export function unlockAudio() {
  if (!audio && window.AudioContext) audio = new AudioContext();
  if (audio && audio.state === "suspended") audio.resume().catch(() => {});
}

export function beep() {
  if (!soundOn() || !audio || audio.state !== "running") return;
  const oscillator = audio.createOscillator();
  const gain = audio.createGain();
  oscillator.type = "sine";
  oscillator.frequency.value = 880;
  const now = audio.currentTime;
  gain.gain.setValueAtTime(0.0001, now);
  gain.gain.exponentialRampToValueAtTime(0.2, now + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.25);
  oscillator.connect(gain).connect(audio.destination);
  oscillator.start(now);
  oscillator.stop(now + 0.3);
}

/** "default" | "granted" | "denied" | "unsupported" */
export function desktopPermission() {
  return window.Notification ? Notification.permission : "unsupported";
}

export async function askDesktopPermission() {
  if (!window.Notification) return "unsupported";
  return Notification.requestPermission();
}

/** Show a desktop notification when allowed; clicking it focuses the tab and calls `onClick`. */
export function desktop(title, body, tag, onClick) {
  if (desktopPermission() !== "granted") return;
  try {
    const notification = new Notification(title, { body, tag });
    notification.onclick = () => {
      window.focus();
      onClick();
      notification.close();
    };
  } catch {
    // Some browsers only allow notifications from a service worker; the beep still plays.
  }
}

export function setTitleCount(count) {
  document.title = count > 0 ? `(${count}) ${BASE_TITLE}` : BASE_TITLE;
}
