// Signing up, logging in and out, and API keys (the secret is shown once, when made).

import { api, session } from "./api.js";
import { cell, time } from "./format.js";
import { showErrors } from "./trading.js";

export class Account {
  constructor(nav, onChange) {
    this.nav = nav;
    this.onChange = onChange;
    this.dialog = document.getElementById("auth-dialog");
    this.form = document.getElementById("auth-form");
    this.keys = document.getElementById("keys-dialog");
    this.mode = "login";
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.submit(); });
    this.form.querySelector("[data-close]").addEventListener("click", () => this.dialog.close());
    this.keys.querySelector("[data-close]").addEventListener("click", () => this.keys.close());
    document.getElementById("key-form").addEventListener("submit", (event) => { event.preventDefault(); this.createKey(); });
    window.addEventListener("signed-out", () => this.render());
    this.render();
  }

  get signedIn() { return Boolean(session.token); }

  render() {
    this.nav.replaceChildren();
    const button = (label, action) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.addEventListener("click", action);
      this.nav.append(b);
    };
    if (this.signedIn) {
      button("API keys", () => this.openKeys());
      button("Log out", () => { session.token = null; this.render(); this.onChange(); });
    } else {
      button("Log in", () => this.open("login"));
      button("Sign up", () => this.open("signup"));
    }
  }

  open(mode) {
    this.mode = mode;
    document.getElementById("auth-title").textContent = mode === "login" ? "Log in" : "Sign up";
    this.form.querySelector('[data-for="username"]').hidden = mode === "login";
    showErrors(this.form, null);
    this.dialog.showModal();
  }

  async submit() {
    const f = this.form.elements;
    const credentials = { email: f.email.value.trim(), password: f.password.value };
    try {
      if (this.mode === "signup") await api("POST", "/auth/signup", { ...credentials, username: f.username.value.trim() });
      const { token } = await api("POST", "/auth/login", credentials);
      session.token = token;
      f.password.value = "";
      this.dialog.close();
      this.render();
      this.onChange();
    } catch (error) {
      showErrors(this.form, error);
    }
  }

  async openKeys() {
    document.getElementById("new-secret").hidden = true;
    await this.listKeys();
    this.keys.showModal();
  }

  async listKeys() {
    const body = document.querySelector("#keys tbody");
    body.replaceChildren();
    for (const key of (await api("GET", "/api-keys")).items) {
      const row = body.insertRow();
      cell(row, key.key_id);
      cell(row, key.label);
      cell(row, time(key.created_at));
      if (key.revoked) {
        cell(row, "revoked");
      } else {
        const revoke = document.createElement("button");
        revoke.type = "button";
        revoke.textContent = "Revoke";
        revoke.addEventListener("click", async () => { await api("DELETE", `/api-keys/${key.key_id}`); this.listKeys(); });
        row.insertCell().append(revoke);
      }
    }
  }

  async createKey() {
    const form = document.getElementById("key-form");
    const made = await api("POST", "/api-keys", { label: form.elements.label.value.trim() });
    const shown = document.getElementById("new-secret");
    shown.textContent = `Key ${made.key_id}, secret ${made.secret}: copy it now, it is not shown again.`;
    shown.hidden = false;
    form.reset();
    this.listKeys();
  }
}
