// Pieces several views share: error placement next to fields, tables, the modal, receipts.
import {call, get} from "../api.js";
import {errorText, t} from "../i18n.js";
import {fill, h, int, time, yuan} from "../util.js";

// stable code -> the form field it concerns (else the error shows under the form)
const FIELD_OF = {
  INVALID_PRICE: "price", BAD_TICK: "price", PRICE_OUT_OF_BAND: "price", INVALID_QUANTITY: "quantity",
  MAX_SIZE: "quantity", AMEND_QTY_TOO_LOW: "quantity", MIN_QTY_NOT_MET: "min_quantity", INVALID_AMOUNT: "amount",
  UNKNOWN_MEMBER: "member", DUPLICATE_REFERENCE: "reference", INSUFFICIENT_FUNDS: "amount",
  INCREMENT_TOO_SMALL: "price", BELOW_FLOOR: "price", ABOVE_CEILING: "price", LOT_RECEIPT_UNAVAILABLE: "receipt_ids",
  INVALID_LOT: "lots", NO_SETTLEMENT_PRICE: "forward", UNKNOWN_INSTRUMENT: "forward",
};

/** Show ``err`` next to its field in ``form`` (fields have data-field, errors data-error-for). */
export function showError(form, err) {
  clearErrors(form);
  let field = FIELD_OF[err.code] || null;
  const m = /at `\$\.(\w+)`/.exec(err.message || "");
  if (m) field = m[1];
  const slot = (field && form.querySelector(`[data-error-for="${field}"]`)) || form.querySelector("[data-error-for='_form']");
  if (slot) { slot.textContent = errorText(err); slot.dataset.code = err.code; }
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll("[data-error-for]")) { el.textContent = ""; delete el.dataset.code; }
}

/** A labelled input with its error slot. */
export function field(name, label, input) {
  input.dataset.field = name; input.name = name;
  return [h("label", {}, label, input), h("div", {class: "err", "data-error-for": name, "data-testid": `err-${name}`})];
}

export function formError() {
  return h("div", {class: "formerr", "data-error-for": "_form", "data-testid": "err-form"});
}

/** A table: columns [[label, render(row) -> text|Node, numeric?]]. */
export function table(columns, rows, {rowAttrs = () => ({}), empty = t("empty")} = {}) {
  const head = h("tr", {}, columns.map(([label, , num]) => h("th", {class: num ? "num" : ""}, label)));
  const body = rows.length ? rows.map((r) => h("tr", rowAttrs(r), columns.map(([, render, num]) =>
    h("td", {class: num ? "num" : ""}, render(r))))) : [h("tr", {}, h("td", {colspan: columns.length, class: "muted"}, empty))];
  return h("table", {}, h("thead", {}, head), h("tbody", {}, body));
}

export function panel(title, body, {tools = [], cls = "", testid = null} = {}) {
  return h("section", {class: "panel " + cls, "data-testid": testid},
           h("h2", {}, title, h("span", {class: "sp"}), tools), body);
}

const modal = () => document.getElementById("modal");

export function closeModal() { fill(modal()); modal().hidden = true; }

/** Show ``content`` in the modal; ``actions`` are buttons. */
export function openModal(content, actions = []) {
  const box = h("div", {class: "box", "data-testid": "modal"}, content,
                h("div", {class: "row", style: "margin-top:12px;display:flex;gap:8px;justify-content:flex-end"}, actions));
  fill(modal(), box); modal().hidden = false;
}

/** Ask to confirm; resolves true or false. */
export function confirmModal(content) {
  return new Promise((resolve) => {
    const done = (v) => { closeModal(); resolve(v); };
    openModal(content, [h("button", {onclick: () => done(false), "data-testid": "confirm-no"}, t("cancel")),
                        h("button", {class: "primary", onclick: () => done(true), "data-testid": "confirm-yes"},
                          t("confirm"))]);
  });
}

/** The receipts panel: the member's receipts; a row opens quality, premium, value and history. */
export function receiptsPanel() {
  const body = h("div", {class: "scroll"});
  async function refresh() {
    const rows = await get("/v1/receipts");
    fill(body, table([
      [t("receipt.id"), (r) => r.receipt_id], [t("receipt.commodity"), (r) => t("commodity." + r.commodity)],
      [t("receipt.warehouse"), (r) => r.warehouse], [t("receipt.state"), (r) => h("span", {class: "badge", "data-testid": "receipt-state"}, t("rstate." + r.state))],
      [t("receipt.pledgee"), (r) => r.pledgee || "—"],
      [t("receipt.kg"), (r) => int(r.quantity_kg), true], [t("receipt.premium"), (r) => yuan(r.premium_per_tonne), true],
      [t("receipt.value"), (r) => yuan(r.value), true],
    ], rows, {rowAttrs: (r) => ({class: "clickable", "data-receipt": r.receipt_id, onclick: () => receiptDetail(r)})}));
  }
  const el = panel(t("receipts.title"), body, {tools: [h("button", {class: "small", onclick: refresh}, t("refresh"))],
                                               testid: "receipts"});
  el.refresh = refresh;
  refresh();
  return el;
}

async function receiptDetail(r) {
  const factors = h("div", {class: "kv"}, Object.entries(r.factors || {}).flatMap(([k, v]) => [h("span", {class: "muted"}, k), h("span", {}, v)]));
  const hist = h("div", {}, t("loading"));
  openModal(h("div", {"data-testid": "receipt-detail"},
    h("h3", {}, `${t("receipt.id")} ${r.receipt_id}`),
    h("div", {class: "kv"},
      h("span", {class: "muted"}, t("receipt.certificate")), h("span", {}, `${r.certificate_no} · ${r.inspector}`),
      h("span", {class: "muted"}, t("receipt.state")), h("span", {}, t("rstate." + r.state)),
      h("span", {class: "muted"}, t("receipt.premium")), h("span", {class: "num"}, yuan(r.premium_per_tonne)),
      h("span", {class: "muted"}, t("receipt.value")), h("span", {class: "num"}, `${yuan(r.value)} (${r.valued_on || "—"})`)),
    h("h4", {}, t("receipt.quality")), factors, h("h4", {}, t("receipt.history")), hist),
    [h("button", {onclick: closeModal, "data-testid": "modal-close"}, t("close"))]);
  try {
    const [history, custody] = await Promise.all([get(`/v1/receipts/${r.receipt_id}/history`),
      get(`/v1/receipts/${r.receipt_id}/custody`).catch(() => [])]);
    fill(hist, table([[t("when"), (e) => time(e.at)], [t("receipt.action"), (e) => e.action],
                      [t("receipt.actor"), (e) => e.actor], [t("receipt.counterparty"), (e) => e.counterparty || "—"]],
                     history.events),
         custody.length ? [h("h4", {}, t("receipt.custody")),
           table([[t("when"), (s) => time(s.at)], [t("receipt.step"), (s) => s.step], [t("receipt.actor"), (s) => s.actor]], custody)] : []);
  } catch (err) { fill(hist, errorText(err)); }
}

/** A POST with the form's errors shown next to their fields; resolves the answer or null. */
export async function submitForm(form, method, path, body) {
  clearErrors(form);
  try { return await call(method, path, body); } catch (err) { showError(form, err); return null; }
}
