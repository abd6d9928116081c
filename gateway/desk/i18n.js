// One dictionary per language (i18n/zh-CN.json, i18n/en.json); Chinese first.
let dict = {}, fallback = {}, lang = "zh-CN";
export const LANGS = ["zh-CN", "en"];

export async function load(wanted) {
  lang = LANGS.includes(wanted) ? wanted : "zh-CN";
  const get = async (l) => (await fetch(`/desk/i18n/${l}.json`)).json();
  [dict, fallback] = await Promise.all([get(lang), lang === "en" ? Promise.resolve({}) : get("en")]);
  document.documentElement.lang = lang;
  document.body.classList.toggle("lang-zh", lang === "zh-CN");
  document.body.classList.toggle("lang-en", lang === "en");
  localStorage.setItem("commex.lang", lang);
  return lang;
}

export function current() { return lang; }

/** The text of ``key`` in the user's language ({name} placeholders filled from ``vars``). */
export function t(key, vars = {}) {
  const text = dict[key] ?? fallback[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? vars[k] : `{${k}}`));
}

/** An API error in the user's language, always with its stable code. */
export function errorText(err) {
  const known = dict["error." + err.code] ?? null;
  return `${known ?? err.message} [${err.code}]`;
}
