// The bell: the signed-in user's unread count and latest notifications (fills, cancels by the
// exchange, deposits, withdrawals, sign-ins, key and password changes). The REST list is read at
// sign-in; the private `notifications` stream adds new ones as they happen.

import { api, session } from "./api.js";
import { time } from "./format.js";

const SHOWN = 20;

export class Notifications {
  constructor(bell, panel) {
    this.bell = bell;
    this.count = bell.querySelector(".count");
    this.panel = panel;
    this.list = panel.querySelector("ol");
    this.items = [];
    this.unread = 0;
    bell.addEventListener("click", () => this.toggle());
    panel.querySelector("[data-action=read-all]").addEventListener("click", () => this.readAll());
    window.addEventListener("signed-out", () => this.clear());
    this.clear();
  }

  async load() {
    if (!session.token) { this.clear(); return; }
    const [page, count] = await Promise.all([api("GET", `/notifications?limit=${SHOWN}`),
                                             api("GET", "/notifications/unread-count")]);
    this.items = page.items;
    this.unread = count.unread;
    this.bell.hidden = false;
    this.render();
  }

  onNotification(data) {
    if (this.items.some((n) => n.id === data.id)) return;
    this.items = [{ ...data, read: false }, ...this.items].slice(0, SHOWN);
    this.unread += 1;
    this.render();
  }

  clear() {
    this.items = [];
    this.unread = 0;
    this.bell.hidden = true;
    this.panel.hidden = true;
    this.render();
  }

  toggle() {
    this.panel.hidden = !this.panel.hidden;
    this.bell.setAttribute("aria-expanded", String(!this.panel.hidden));
  }

  async read(item) {
    if (item.read) return;
    await api("POST", `/notifications/${encodeURIComponent(item.id)}/read`);
    item.read = true;
    this.unread = Math.max(0, this.unread - 1);
    this.render();
  }

  async readAll() {
    await api("POST", "/notifications/read-all");
    for (const item of this.items) item.read = true;
    this.unread = 0;
    this.render();
  }

  render() {
    this.count.textContent = this.unread ? String(this.unread) : "";
    this.bell.setAttribute("aria-label", `Notifications, ${this.unread} unread`);
    this.list.replaceChildren(...this.items.map((item) => {
      const li = document.createElement("li");
      li.className = item.read ? "read" : "unread";
      li.dataset.kind = item.kind;
      const text = document.createElement("span");
      text.textContent = item.text;
      const when = document.createElement("time");
      when.textContent = time(item.time);
      li.append(text, when);
      li.addEventListener("click", () => this.read(item).catch(() => {}));
      return li;
    }));
    if (!this.items.length) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = "Nothing yet";
      this.list.append(li);
    }
  }
}
