// Small DOM and number helpers shared by the desk's views.

/** An element: h("td", {class: "num", onclick: f}, "text", child, ...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value") { el.value = v; if (tag === "input") el.setAttribute("value", v); }
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replace the children of ``el``. */
export function fill(el, ...children) {
  el.replaceChildren();
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false)
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function group(digits) {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** A yuan decimal string (as the API sends it) with thousands separators and 2 decimals. */
export function yuan(text) {
  if (text === null || text === undefined || text === "") return "—";
  let s = String(text), sign = "";
  if (s.startsWith("-")) { sign = "−"; s = s.slice(1); }
  const [whole, frac = ""] = s.split(".");
  return sign + group(whole) + "." + (frac + "00").slice(0, Math.max(2, frac.length));
}

/** Integer fen of a yuan decimal string (exact; for comparisons and sums). */
export function fen(text) {
  if (text === null || text === undefined || text === "") return null;
  const s = String(text), neg = s.startsWith("-"), body = neg ? s.slice(1) : s;
  const [whole, frac = ""] = body.split(".");
  const v = BigInt(whole || "0") * 100n + BigInt((frac + "00").slice(0, 2));
  return neg ? -v : v;
}

/** Yuan text of integer fen (BigInt). */
export function fromFen(v) {
  const neg = v < 0n, a = neg ? -v : v;
  return (neg ? "-" : "") + (a / 100n).toString() + "." + (a % 100n).toString().padStart(2, "0");
}

/** An integer with thousands separators. */
export function int(n) {
  return n === null || n === undefined ? "—" : group(String(n));
}

/** A signed change: {text: "+12.50", cls: "up"|"down"|"flat"}. */
export function change(now, ref) {
  const a = fen(now), b = fen(ref);
  if (a === null || b === null) return {text: "—", cls: "flat"};
  const d = a - b;
  if (d === 0n) return {text: "0.00", cls: "flat"};
  return {text: (d > 0n ? "+" : "−") + yuan(fromFen(d > 0n ? d : -d)), cls: d > 0n ? "up" : "down"};
}

/** ``fn`` run at most once per animation frame however often the returned function is called. */
export function perFrame(fn) {
  let pending = 0;
  const run = () => { if (!pending) pending = requestAnimationFrame(() => { pending = 0; fn(); }); };
  run.cancel = () => { cancelAnimationFrame(pending); pending = 0; };
  return run;
}

/** A random id for Idempotency-Key and client order ids. */
export function randomId(prefix = "") {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function time(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleString(document.documentElement.lang || "zh-CN", {hour12: false});
}
