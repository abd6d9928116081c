// The lender's desk: loan requests to approve or decline, and the loan book with marks.
import {call, get} from "../api.js";
import {errorText, t} from "../i18n.js";
import {fill, h, yuan} from "../util.js";
import {panel, table} from "./common.js";

export function mount(root, {live}) {
  const requestsBody = h("div", {"data-testid": "loan-requests"});
  const bookBody = h("div", {class: "scroll", "data-testid": "loan-book"});

  async function load() {
    const loans = await get("/v1/loans");
    const pending = loans.filter((l) => l.state === "requested" || l.state === "pending");
    fill(requestsBody, table([
      [t("loan.id"), (l) => l.loan_id], [t("loan.borrower"), (l) => l.borrower], [t("loan.commodity"), (l) => t("commodity." + l.commodity)],
      [t("loan.receipts"), (l) => l.receipt_ids.join(", ")], [t("loan.principal"), (l) => yuan(l.principal), true],
      [t("loan.value"), (l) => yuan(l.value), true], [t("loan.tenor"), (l) => l.tenor_days, true],
      ["", (l) => h("span", {}, h("button", {class: "small primary", "data-testid": "approve", onclick: (ev) => decide(l, "approve", ev)}, t("loan.approve")), " ",
                    h("button", {class: "small", "data-testid": "decline", onclick: (ev) => decide(l, "decline", ev)}, t("loan.decline")),
                    h("div", {class: "err", style: "margin:0", "data-error-for": "_row"}))],
    ], pending, {rowAttrs: (l) => ({"data-loan": l.loan_id})}));
    fill(bookBody, table([
      [t("loan.id"), (l) => l.loan_id], [t("loan.borrower"), (l) => l.borrower], [t("loan.state"), (l) => t("lstate." + l.state)],
      [t("loan.principal"), (l) => yuan(l.principal), true], [t("loan.owed"), (l) => yuan(l.owed), true],
      [t("loan.value"), (l) => yuan(l.value), true],
      [t("loan.ratio"), (l) => h("span", {class: l.ratio_bps >= l.warning_bps ? "down" : ""}, (l.ratio_bps / 100).toFixed(2) + "%"), true],
      [t("loan.maturity"), (l) => l.maturity_day, true],
    ], loans.filter((l) => !pending.includes(l)), {rowAttrs: (l) => ({"data-loan": l.loan_id})}));
  }

  async function decide(l, what, ev) {
    try { await call("POST", `/v1/loans/${l.loan_id}/${what}`); load(); } catch (err) {
      const slot = ev.target.closest("tr").querySelector("[data-error-for]");
      slot.textContent = errorText(err);
    }
  }

  fill(root, h("div", {class: "grid"},
    panel(t("loan.requests"), requestsBody, {tools: h("button", {class: "small", onclick: load}, t("refresh"))}),
    panel(t("loan.book"), bookBody)));
  const offPrivate = live.onPrivate((m) => { if (m.type === "loan") load(); });
  window.addEventListener("resync", load);
  load();
  return () => { offPrivate(); window.removeEventListener("resync", load); };
}
