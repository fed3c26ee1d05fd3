// Keyed list rendering: one element per item, kept from render to render by the item's key, so
// an event that changes one conversation touches one row, not the 2,000 around it (and focus,
// scroll position and element handles survive).

/**
 * The elements of a list of items in `container`, which holds nothing else. `key(item)` names
 * an item across renders, `create(item)` makes the element of a key seen for the first time and
 * `draw(element, model, item)` shows a model in it. render(items, model) asks `model(item)` for a
 * plain JSON-able description of what each element shows and draws only the elements whose
 * description changed; elements of keys no longer listed are removed, and the rest are moved
 * only where the order changed.
 */
export function keyedList(container, { key, create, draw }) {
  const entries = new Map(); // key -> {element, drawn: the JSON of the model it shows}

  function render(items, model) {
    const active = document.activeElement;
    const focused = active && container.contains(active) ? active : null;
    const wanted = new Map();
    for (const item of items) if (!wanted.has(key(item))) wanted.set(key(item), item);
    for (const [id, entry] of entries) {
      if (!wanted.has(id)) {
        entry.element.remove();
        entries.delete(id);
      }
    }
    // Walk the wanted order against the children: a child already in its place is passed over,
    // anything else is inserted (moved) before it. A row that went up moves once; one that went
    // down stays, and the rows that overtook it move once each.
    let cursor = container.firstChild;
    for (const [id, item] of wanted) {
      let entry = entries.get(id);
      if (!entry) {
        entry = { element: create(item), drawn: null };
        entries.set(id, entry);
      }
      const described = model(item);
      const drawn = JSON.stringify(described);
      if (drawn !== entry.drawn) {
        draw(entry.element, described, item);
        entry.drawn = drawn;
      }
      if (entry.element === cursor) cursor = cursor.nextSibling;
      else container.insertBefore(entry.element, cursor);
    }
    // Moving a focused element out and back in blurs it: give the focus back.
    if (focused && focused.isConnected && document.activeElement !== focused) focused.focus();
  }

  return { render };
}
