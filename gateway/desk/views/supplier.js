// The supplier's desk: receipts now; listings and auctions are being built elsewhere and plug in
// here (hooks: data-placeholder="listing", "auction", "auction-room").
import {t} from "../i18n.js";
import {fill, h} from "../util.js";
import {placeholder, receiptsPanel} from "./common.js";

export function mount(root) {
  fill(root, h("div", {class: "grid two"}, h("div", {class: "wide"}, receiptsPanel()),
    placeholder("listing"), placeholder("auction"),
    h("div", {class: "wide"}, placeholder("auction-room", t("placeholder.auctionRoom")))));
  return () => {};
}
