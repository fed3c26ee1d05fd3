// The business-hours editor of a site's settings: a time zone and, per weekday, closed or open
// from one time to another. It produces the API's form, {"timezone", "days": {"mon": [["09:00",
// "17:00"]], ...}} (a missing day is closed), or null for "always open". A day saved with several
// ranges keeps them as long as its first range is left as it was.

import { h } from "./dom.js";

const DAYS = [
  ["mon", "Monday"],
  ["tue", "Tuesday"],
  ["wed", "Wednesday"],
  ["thu", "Thursday"],
  ["fri", "Friday"],
  ["sat", "Saturday"],
  ["sun", "Sunday"],
];
const WORKDAY = ["09:00", "17:00"];

function zones(current) {
  const known = Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [];
  const all = new Set(["UTC", ...known]);
  if (current) all.add(current);
  return [...all].sort();
}

/** The editor for `hours` (the stored value); {element, focusable, value()} (value may throw). */
export function hoursEditor(hours, idPrefix) {
  const localZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const always = h("input", { type: "checkbox", name: "always_open", checked: hours === null });
  const zone = h(
    "select",
    { name: "timezone", id: `${idPrefix}-timezone` },
    zones(hours ? hours.timezone : localZone).map((name) => h("option", { value: name }, name)),
  );
  zone.value = hours ? hours.timezone : localZone;
  const rows = DAYS.map(([day, name]) => {
    const ranges = (hours && hours.days[day]) || [];
    const [from, to] = ranges[0] || WORKDAY;
    const open = h("input", {
      type: "checkbox",
      name: `${day}_open`,
      checked: hours === null ? day !== "sat" && day !== "sun" : ranges.length > 0,
    });
    // <input type=time> cannot say 24:00: 00:00 as a closing time means midnight.
    const start = h("input", { type: "time", name: `${day}_from`, value: from, required: true });
    const end = h("input", {
      type: "time",
      name: `${day}_to`,
      value: to === "24:00" ? "00:00" : to,
      required: true,
    });
    start.setAttribute("aria-label", `${name} opens at`);
    end.setAttribute("aria-label", `${name} closes at`);
    const times = h("span", { class: "hours-times" }, start, h("span", {}, "to"), end);
    const sync = () => {
      start.disabled = !open.checked;
      end.disabled = !open.checked;
      times.classList.toggle("closed", !open.checked);
    };
    open.addEventListener("change", sync);
    sync();
    return {
      day,
      name,
      element: h(
        "div",
        { class: "hours-day", role: "group", "aria-label": name },
        h("label", { class: "toggle" }, open, h("span", {}, name)),
        times,
      ),
      value() {
        if (!open.checked) return [];
        const first = [start.value, end.value === "00:00" ? "24:00" : end.value];
        if (!start.value || !end.value) throw new Error(`business_hours: ${name}: give both times`);
        if (first[0] >= first[1]) {
          throw new Error(`business_hours: ${name}: opening must come before closing`);
        }
        const unchanged = ranges.length && first[0] === ranges[0][0] && first[1] === ranges[0][1];
        return unchanged ? ranges : [first];
      },
    };
  });
  const week = h(
    "div",
    { class: "hours-week" },
    rows.map((row) => row.element),
  );
  const zoneLabel = h("label", { class: "field" }, h("span", {}, "Time zone"), zone);
  const syncAlways = () => {
    week.hidden = always.checked;
    zoneLabel.hidden = always.checked;
  };
  always.addEventListener("change", syncAlways);
  syncAlways();
  const element = h(
    "div",
    { class: "hours-editor" },
    h("label", { class: "toggle" }, always, h("span", {}, "Always open (no business hours)")),
    zoneLabel,
    week,
    h("p", { class: "hint" }, "A closing time of 00:00 means midnight."),
  );
  return {
    element,
    focusable: always,
    value() {
      if (always.checked) return null;
      const days = {};
      for (const row of rows) {
        const ranges = row.value();
        if (ranges.length) days[row.day] = ranges;
      }
      return { timezone: zone.value, days };
    },
  };
}
