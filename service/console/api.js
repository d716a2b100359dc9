// Every call the console makes goes through the service's public HTTP API, with the admin token
// typed into the page. The token lives in this tab only: module state plus sessionStorage (so a
// reload keeps it), never a cookie or localStorage.

const KEY = "knn-router-admin-token";
let token = sessionStorage.getItem(KEY) ?? "";
const listeners = new Set();

export function adminToken() {
  return token;
}

export function setAdminToken(value) {
  token = value.trim();
  if (token) sessionStorage.setItem(KEY, token);
  else sessionStorage.removeItem(KEY);
  for (const fn of listeners) fn(token);
}

export function onTokenChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/**
 * Whether the service takes `candidate` as the admin token: resolves when it does, rejects with the
 * service's own refusal (401 wrong token, 503 admin API off) otherwise. Nothing is stored.
 */
export async function checkToken(candidate) {
  const res = await fetch("/admin/targets", { headers: { authorization: `Bearer ${candidate.trim()}` } });
  await parse(res);
}

/** A non-2xx answer: the service's error envelope, kept whole for the page to show. */
export class ApiError extends Error {
  constructor(status, body) {
    const e = body?.error;
    super(e?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = e?.code ?? "HTTP_ERROR";
    this.details = e?.details ?? [];
  }
}

function headers(admin, extra = {}) {
  return admin && token ? { ...extra, authorization: `Bearer ${token}` } : extra;
}

async function parse(res) {
  const text = await res.text();
  let body = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

/** A JSON call; `admin: false` sends no token (the public routes). */
export async function api(method, path, body, { admin = true } = {}) {
  const init = { method, headers: headers(admin) };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  return parse(await fetch(path, init));
}

/** GET a text resource (the metrics). */
export async function text(path) {
  const res = await fetch(path, { headers: headers(true) });
  if (!res.ok) await parse(res);
  return res.text();
}

/** POST a multipart form with upload progress (0..1) reported to `onProgress`. */
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    if (token) xhr.setRequestHeader("authorization", `Bearer ${token}`);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = xhr.responseText;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body));
    };
    xhr.onerror = () => reject(new ApiError(0, { error: { message: "the upload failed (network)" } }));
    xhr.send(form);
  });
}
