// DOM building without innerHTML: every string that came from the API ends
// up in a text node, so review text can never inject markup.

/**
 * Creates an element. `attributes` keys: `class`, `dataset` (object),
 * `on<Event>` (listener), any other key is set as an attribute (skipped when
 * null/undefined/false). `children` may nest arrays; strings and numbers
 * become text nodes, null/undefined/false are skipped.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') {
      element.className = value;
    } else if (key === 'dataset') {
      for (const [dataKey, dataValue] of Object.entries(value)) {
        if (dataValue !== null && dataValue !== undefined) element.dataset[dataKey] = String(dataValue);
      }
    } else if (key.startsWith('on') && typeof value === 'function') {
      element.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'value') {
      element.value = value;
    } else if (value === true) {
      element.setAttribute(key, '');
    } else {
      element.setAttribute(key, String(value));
    }
  }
  appendChildren(element, children);
  return element;
}

export function appendChildren(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Replaces every child of `element` with `children`. */
export function replaceChildren(element, ...children) {
  element.replaceChildren();
  return appendChildren(element, children);
}

/**
 * Splits `text` into text nodes and wrapping elements from character ranges.
 * Ranges are `[start, end)` offsets in Unicode scalar values (what the Rust
 * API counts), while JS strings index UTF-16 code units, so the text is
 * split into code points first: an emoji before a match would otherwise
 * shift every later mark by one.
 *
 * `layers` is a list of `{ranges: [[s, e, info?], ...], wrap: (children, coveringRanges) => Element}`;
 * later layers nest inside earlier ones where they overlap, so a highlight
 * inside an evidence span shows both.
 */
export function decorateText(text, layers) {
  const codePoints = Array.from(text || '');
  const boundaries = new Set([0, codePoints.length]);
  const cleanedLayers = layers.map((layer) => ({
    ...layer,
    ranges: (layer.ranges || [])
      .filter((range) => Array.isArray(range) && range.length >= 2)
      .map(([start, end, info]) => [clamp(start, codePoints.length), clamp(end, codePoints.length), info])
      .filter(([start, end]) => end > start),
  }));
  for (const layer of cleanedLayers) {
    for (const [start, end] of layer.ranges) {
      boundaries.add(start);
      boundaries.add(end);
    }
  }
  const points = [...boundaries].sort((a, b) => a - b);
  const nodes = [];
  for (let index = 0; index + 1 < points.length; index += 1) {
    const start = points[index];
    const end = points[index + 1];
    let piece = document.createTextNode(codePoints.slice(start, end).join(''));
    // Innermost first: the last layer wraps the bare text, earlier ones wrap that.
    for (let layerIndex = cleanedLayers.length - 1; layerIndex >= 0; layerIndex -= 1) {
      const layer = cleanedLayers[layerIndex];
      const covering = layer.ranges.filter(([rangeStart, rangeEnd]) => rangeStart <= start && end <= rangeEnd);
      if (covering.length > 0) piece = layer.wrap([piece], covering);
    }
    nodes.push(piece);
  }
  return nodes;
}

function clamp(offset, length) {
  const number = Number(offset);
  if (!Number.isFinite(number)) return 0;
  return Math.max(0, Math.min(Math.trunc(number), length));
}

/**
 * Hands a fetched file to the browser's download: an object URL on a
 * temporary `<a download>`, released once the download has started. (The
 * export needs the API key header, so it cannot be a plain link to the API.)
 */
export function saveBlob(blob, filename) {
  const objectUrl = URL.createObjectURL(blob);
  const link = h('a', { href: objectUrl, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(objectUrl), 30_000);
}
