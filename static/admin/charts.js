// Small SVG charts drawn here (no library): bars over time and a weekday x hour heat map. Each
// chart is an image with a name and a summary; the numbers themselves are in a table next to
// it (see reports.js), which is what screen readers and phones read.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 600;
const HEIGHT = 180;
const PAD = { top: 12, right: 8, bottom: 22, left: 44 };

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  if (text !== undefined) el.textContent = text;
  return el;
}

function frame(title, summary, width = WIDTH, height = HEIGHT) {
  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "chart",
    role: "img",
    focusable: "false",
  });
  root.setAttribute("aria-label", `${title}. ${summary}`);
  return root;
}

function axisLabel(y, text) {
  return svg("text", { x: PAD.left - 4, y, "text-anchor": "end", class: "chart-label" }, text);
}

/**
 * Bars for `points` [{label, value}] (null values leave a gap), with the largest value on the
 * axis and the first and last labels under it. `format` writes a value for people.
 */
export function barChart(title, points, format = String) {
  const values = points.map((p) => p.value).filter((v) => v !== null && v !== undefined);
  const max = Math.max(0, ...values);
  const summary = values.length
    ? `Highest ${format(max)}, over ${points.length} intervals.`
    : "No data in this range.";
  const root = frame(title, summary);
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  root.append(
    svg("line", {
      x1: PAD.left,
      x2: WIDTH - PAD.right,
      y1: PAD.top + plotHeight,
      y2: PAD.top + plotHeight,
      class: "chart-axis",
    }),
    axisLabel(PAD.top + 8, format(max)),
    axisLabel(PAD.top + plotHeight, "0"),
  );
  const step = plotWidth / Math.max(1, points.length);
  points.forEach((point, i) => {
    if (point.value === null || point.value === undefined || max === 0) return;
    const height = (point.value / max) * plotHeight;
    root.append(
      svg("rect", {
        x: PAD.left + i * step + step * 0.1,
        y: PAD.top + plotHeight - height,
        width: Math.max(1, step * 0.8),
        height: Math.max(height, point.value > 0 ? 1 : 0),
        class: "chart-bar",
      }),
    );
  });
  if (points.length) {
    const y = HEIGHT - 6;
    root.append(svg("text", { x: PAD.left, y, class: "chart-label" }, points[0].label));
    if (points.length > 1) {
      root.append(
        svg(
          "text",
          { x: WIDTH - PAD.right, y, "text-anchor": "end", class: "chart-label" },
          points[points.length - 1].label,
        ),
      );
    }
  }
  return root;
}

/** A 7 x 24 grid: `cells[day][hour]` counts, day 0 = Monday; darker is busier. */
export function heatMap(title, cells, dayNames) {
  const cellW = 22;
  const cellH = 18;
  const left = 40;
  const top = 16;
  const width = left + 24 * cellW + 4;
  const height = top + 7 * cellH + 4;
  const max = Math.max(0, ...cells.flat());
  let busiest = null;
  cells.forEach((row, day) =>
    row.forEach((value, hour) => {
      if (value > 0 && (!busiest || value > busiest.value)) busiest = { day, hour, value };
    }),
  );
  const summary = busiest
    ? `Busiest: ${dayNames[busiest.day]} ${busiest.hour}:00 with ${busiest.value}.`
    : "No conversations in this range.";
  const root = frame(title, summary, width, height);
  for (let hour = 0; hour < 24; hour += 3) {
    root.append(svg("text", { x: left + hour * cellW, y: 11, class: "chart-label" }, String(hour)));
  }
  cells.forEach((row, day) => {
    root.append(
      svg("text", { x: 0, y: top + day * cellH + 13, class: "chart-label" }, dayNames[day]),
    );
    row.forEach((value, hour) => {
      root.append(
        svg("rect", {
          x: left + hour * cellW,
          y: top + day * cellH,
          width: cellW - 2,
          height: cellH - 2,
          class: value > 0 ? "heat-cell" : "heat-cell empty",
          // A presentation attribute, not a style: allowed under the page's CSP.
          "fill-opacity": value > 0 && max > 0 ? (0.15 + 0.85 * (value / max)).toFixed(2) : 1,
        }),
      );
    });
  });
  return root;
}
