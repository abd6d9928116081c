// High availability on the desk: the cluster's other nodes come from /desk/cluster.json
// (COMMEX_PEERS on the server). When this node answers 503 STANDBY, stops answering, or the live
// feed is lost, the desk checks its own /healthz; unless it says "ok" a banner shows, the peers'
// /healthz are checked (from the browser, every 3 s while in trouble) and the first whose status
// is "ok" (the primary) is offered. Sessions live in each node's memory: a new sign-in is needed
// there, and the banner says so.
import {current, t} from "./i18n.js";
import {fill, h} from "./util.js";

const box = () => document.getElementById("ha");
let peers = [], checking = false, timer = 0;

async function status(base, ms = 2000) {
  const ctl = new AbortController(), stop = setTimeout(() => ctl.abort(), ms);
  try {
    const resp = await fetch(base + "/healthz", {signal: ctl.signal, cache: "no-store", credentials: "omit"});
    return (await resp.json()).status;
  } catch { return "down"; } finally { clearTimeout(stop); }
}

async function loadPeers() {
  try { peers = (await (await fetch("/desk/cluster.json", {cache: "no-store"})).json()).peers || []; }
  catch { /* this node is down: keep what was learnt */ }
}

/** Check this node; if it is not the primary, show the banner and offer a peer that is. */
export async function check() {
  if (checking) return;
  checking = true;
  try {
    const own = await status("");
    if (own === "ok") { box().hidden = true; clearInterval(timer); timer = 0; return; }
    if (!peers.length) await loadPeers();
    let found = null;
    for (const p of peers) if (await status(p) === "ok") { found = p; break; }
    fill(box(), h("span", {}, t("ha.standby", {node: location.host})), " ",
         found ? h("a", {class: "button", href: `${found}/?lang=${current()}`, "data-testid": "ha-move", "data-peer": found},
                   t("ha.move", {node: new URL(found).host}))
               : h("span", {"data-testid": "ha-none"}, t("ha.none")));
    box().hidden = false;
    document.body.dataset.node = own;
    if (!timer) timer = setInterval(check, 3000);
  } finally { checking = false; }
}

export async function watch() {
  await loadPeers();
  window.addEventListener("nodetrouble", check);
  check();
}
