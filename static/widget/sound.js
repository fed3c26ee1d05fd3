/* Omnichat widget, loaded on demand when the `sound` option is on: a short beep for new replies.
 * Browsers allow audio only after a user gesture, so the context is made in one. */
export default function () {
  let audio = null;
  function unlock() {
    if (audio) return;
    try {
      audio = new (window.AudioContext || window.webkitAudioContext)();
    } catch (e) {}
  }
  addEventListener("pointerdown", unlock, true);
  addEventListener("keydown", unlock, true);
  function beep() {
    if (!audio) return;
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    const now = audio.currentTime;
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.08, now);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.25);
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(now + 0.25);
  }
  return { beep };
}
