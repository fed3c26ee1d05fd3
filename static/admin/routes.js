// The routes table: every screen of the admin page once, with the module that mounts it, the
// least role that may see it and its place in the main menu. The router reads paths with it,
// main.js mounts screens from it and the shell draws its menu from it.

import { mountAccount } from "./account.js";
import { mountAudit } from "./audit.js";
import { mountBackups } from "./backups.js";
import { mountExport } from "./export.js";
import { mountInbox } from "./inbox.js";
import { mountCanned } from "./replies.js";
import { mountReports } from "./reports.js";
import { mountSites } from "./sites.js";
import { mountTokens } from "./tokens.js";
import { mountUsers } from "./users.js";
import { mountWebhooks } from "./webhooks.js";

const RANK = { agent: 1, admin: 2, owner: 3 };

/**
 * {screen: the first part of its path (/admin/<screen>), mount(host, services) -> {destroy},
 * role: the least role that sees it, menu: its label in the main menu, path: where that link
 * goes, within: the menu entry it belongs to when it has none of its own}. Screens with the same
 * mount function share one mounted instance: the inbox shows follow-ups in its sidebar.
 */
export const ROUTES = [
  { screen: "inbox", mount: mountInbox, role: "agent", menu: "Inbox", path: "/admin/inbox/active" },
  { screen: "followups", mount: mountInbox, role: "agent", within: "inbox" },
  {
    screen: "canned",
    mount: mountCanned,
    role: "agent",
    menu: "Canned replies",
    path: "/admin/canned",
  },
  { screen: "users", mount: mountUsers, role: "admin", menu: "Users", path: "/admin/users" },
  { screen: "sites", mount: mountSites, role: "admin", menu: "Sites", path: "/admin/sites" },
  {
    screen: "tokens",
    mount: mountTokens,
    role: "admin",
    menu: "API tokens",
    path: "/admin/tokens",
  },
  {
    screen: "reports",
    mount: mountReports,
    role: "admin",
    menu: "Reports",
    path: "/admin/reports",
  },
  { screen: "audit", mount: mountAudit, role: "admin", menu: "Audit log", path: "/admin/audit" },
  { screen: "export", mount: mountExport, role: "admin", menu: "Export", path: "/admin/export" },
  {
    screen: "webhooks",
    mount: mountWebhooks,
    role: "admin",
    menu: "Webhooks",
    path: "/admin/webhooks",
  },
  {
    screen: "backups",
    mount: mountBackups,
    role: "owner",
    menu: "Backups",
    path: "/admin/backups",
  },
  { screen: "account", mount: mountAccount, role: "agent" },
];

/** The route of the screen named `screen`; an unknown name is the inbox's. */
export function routeFor(screen) {
  return ROUTES.find((route) => route.screen === screen) || ROUTES[0];
}

/** Whether the user `me` has `role` or a higher one. */
export function hasRole(me, role) {
  return Boolean(me) && (RANK[me.role] || 0) >= RANK[role];
}
