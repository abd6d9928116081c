// The desk's shell: sign-in, the language toggle, the views a member's roles open, the live
// feed's banner. Views live in views/*.js: mount(root, ctx) returns a function that unmounts.
import {ApiError, session, signIn, signOut} from "./api.js";
import {current, load, t, errorText} from "./i18n.js";
import {check as checkNode, watch as watchNode} from "./ha.js";
import {Live} from "./live.js";
import {fill, h} from "./util.js";

// view name -> [module, roles that see it]
const VIEWS = {
  trade: ["./views/trader.js", ["trader", "supplier"]],
  supply: ["./views/supplier.js", ["supplier"]],
  bulk: ["./views/bulk.js", ["trader", "supplier"]],
  clearing: ["./views/clearing.js", ["clearing"]],
  lending: ["./views/lender.js", ["lender"]],
  operator: ["./views/operator.js", ["operator"]],
};

const main = document.getElementById("main");
const banner = document.getElementById("banner");
let live = null, unmount = null;

function allowed(s) {
  return Object.keys(VIEWS).filter((name) => VIEWS[name][1].some((r) => s.roles.includes(r)));
}

function status(state) {
  banner.hidden = state === "open";
  if (state === "lost") { banner.textContent = t("live.lost"); checkNode(); }
  if (state === "ended") banner.textContent = t("live.ended");
  if (state === "closed") banner.hidden = true;
  document.body.dataset.live = state;
}

function header(s) {
  const nav = document.getElementById("nav");
  const views = s ? allowed(s) : [];
  const active = location.hash.slice(1);
  fill(nav, views.map((v) => h("a", {href: "#" + v, class: v === active ? "active" : "", "data-testid": "nav-" + v},
                                 t("nav." + v))));
  fill(document.getElementById("who"), s ? `${s.member} · ${s.roles.map((r) => t("role." + r)).join(", ")}` : "");
  const out = document.getElementById("signout");
  out.hidden = !s; out.textContent = t("signout");
  document.getElementById("lang").textContent = current() === "en" ? "中文" : "EN";
  document.title = t("title");
}

function signInView() {
  const key = h("input", {name: "api_key", autocomplete: "username", "data-testid": "api-key"});
  const secret = h("input", {name: "api_secret", type: "password", autocomplete: "current-password",
                             "data-testid": "api-secret"});
  const keyErr = h("div", {class: "err", "data-testid": "api-key-error"});
  const secretErr = h("div", {class: "err", "data-testid": "api-secret-error"});
  const form = h("form", {class: "stack panel signin", "data-testid": "signin-form"},
    h("h2", {}, t("signin.title")),
    h("p", {class: "muted"}, t("signin.hint")),
    h("label", {}, t("signin.key"), key), keyErr,
    h("label", {}, t("signin.secret"), secret), secretErr,
    h("button", {class: "primary", type: "submit", "data-testid": "signin-submit"}, t("signin.submit")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    fill(keyErr); fill(secretErr);
    try {
      await signIn(key.value.trim(), secret.value.trim());
      secret.value = "";
      location.hash = "";
      start();
    } catch (err) {
      (err.code === "UNKNOWN_API_KEY" ? keyErr : secretErr).textContent = errorText(err);
    }
  });
  return form;
}

let routing = 0;  // the latest route() call: an earlier one whose import resolves later mounts nothing

async function route() {
  const mine = ++routing;
  if (unmount) { unmount(); unmount = null; }
  const s = session();
  header(s);
  if (!s) { fill(main, signInView()); return; }
  const views = allowed(s);
  let name = location.hash.slice(1);
  if (!views.includes(name)) { name = views[0]; history.replaceState(null, "", "#" + name); header(s); }
  if (!name) { fill(main, h("p", {}, t("noviews"))); return; }
  let mod;
  try {
    mod = await import(VIEWS[name][0]);
  } catch (err) {  // this node stopped answering between the click and the view's module: as any request
    window.dispatchEvent(new Event("nodetrouble"));
    throw new ApiError(0, "UNREACHABLE", String(err.message || err));
  }
  if (mine !== routing) return;
  fill(main);
  unmount = mod.mount(main, {live, session: s});
}

function start() {
  const s = session();
  if (live) { live.stop(); live = null; }
  if (s) live = new Live({csrf: s.csrf, onStatus: status, onReconnect: () => window.dispatchEvent(new Event("resync"))}).start();
  route();
}

window.addEventListener("hashchange", route);
// a refused background load (a view refreshing itself) shows in the banner's place; an ended
// session has already sent the desk back to the sign-in form
window.addEventListener("unhandledrejection", (ev) => {
  if (!(ev.reason instanceof ApiError)) return;
  ev.preventDefault();
  if (ev.reason.code === "SESSION_EXPIRED") return;
  banner.hidden = false; banner.textContent = errorText(ev.reason);
  setTimeout(() => { if (document.body.dataset.live === "open") banner.hidden = true; }, 5000);
});
window.addEventListener("signedout", () => { if (live) live.stop(); live = null; status("closed"); route(); });
document.getElementById("signout").addEventListener("click", async () => {
  try { await signOut(); } catch { /* already ended */ }
  window.dispatchEvent(new Event("signedout"));
});
document.getElementById("lang").addEventListener("click", async () => {
  await load(current() === "en" ? "zh-CN" : "en");
  route();
});

await load(new URLSearchParams(location.search).get("lang") || localStorage.getItem("commex.lang") || "zh-CN");
start();
watchNode();
