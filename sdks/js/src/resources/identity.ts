/** Identity: auth, the current user, API keys, workspaces. */

import type { ApiKey, ApiKeyCreated, Invitation, JSONObject, ListParams, Member, Scope, TokenPair, User, Workspace } from "../types.js";
import type { Paginator } from "../pagination.js";
import { Resource, enc } from "./base.js";

export class Auth extends Resource {
  /** Create an account (no credentials needed). */
  register(params: { email: string; password: string; name?: string | null }): Promise<User> {
    return this.core.request<User>("POST", "/auth/register", { body: params, anonymous: true });
  }

  /** Log in; the client then uses (and automatically refreshes) these tokens. */
  async login(params: { email: string; password: string }): Promise<TokenPair> {
    const pair = await this.core.request<TokenPair>("POST", "/auth/login", { body: params, anonymous: true });
    this.core.tokens = { accessToken: pair.accessToken, refreshToken: pair.refreshToken };
    return pair;
  }

  /** Exchange the session's refresh token for a new pair. */
  async refresh(): Promise<{ accessToken: string; refreshToken: string }> {
    return this.core.refresh();
  }

  /** End the session (revokes the refresh token) and forget the tokens. */
  async logout(): Promise<void> {
    const refreshToken = this.core.tokens?.refreshToken ?? null;
    await this.core.request<unknown>("POST", "/auth/logout", { body: { refreshToken } });
    this.core.tokens = null;
  }

  changePassword(params: { currentPassword: string; newPassword: string }): Promise<unknown> {
    return this.post("/auth/password", params);
  }

  /** Every scope an API key or OAuth app may carry. */
  scopes(): Promise<Scope[]> {
    return this.get("/auth/scopes");
  }
}

export class Users extends Resource {
  me(): Promise<User> {
    return this.get("/users/me");
  }

  updateMe(params: { name?: string | null; email?: string | null }): Promise<User> {
    return this.patch("/users/me", params);
  }

  deleteMe(): Promise<void> {
    return this.del("/users/me");
  }

  /** Admin only. */
  list(params: ListParams = {}): Paginator<User> {
    return this.paginate("/users", params);
  }

  /** Admin only (or yourself). */
  retrieve(userId: string): Promise<User> {
    return this.get(`/users/${enc(userId)}`);
  }

  /** Admin only: role, tier, rate limit, disabled. */
  update(userId: string, params: { role?: string; tier?: string; rateLimitPerHour?: number; isDisabled?: boolean }): Promise<User> {
    return this.patch(`/users/${enc(userId)}`, params);
  }
}

export class ApiKeys extends Resource {
  /** The returned `key` is shown once. */
  create(params: { name: string; scopes: string[]; expiresInDays?: number | null }): Promise<ApiKeyCreated> {
    return this.post("/auth/api-keys", params);
  }

  list(params: ListParams = {}): Paginator<ApiKey> {
    return this.paginate("/auth/api-keys", params);
  }

  revoke(keyId: string): Promise<void> {
    return this.del(`/auth/api-keys/${enc(keyId)}`);
  }
}

export class Workspaces extends Resource {
  create(params: { name: string }): Promise<Workspace> {
    return this.post("/workspaces", params);
  }

  list(params: ListParams = {}): Paginator<Workspace> {
    return this.paginate("/workspaces", params);
  }

  retrieve(workspaceId: string): Promise<Workspace> {
    return this.get(`/workspaces/${enc(workspaceId)}`);
  }

  update(workspaceId: string, params: { name?: string }): Promise<Workspace> {
    return this.patch(`/workspaces/${enc(workspaceId)}`, params);
  }

  delete(workspaceId: string): Promise<void> {
    return this.del(`/workspaces/${enc(workspaceId)}`);
  }

  transferOwnership(workspaceId: string, params: { userId: string }): Promise<Workspace> {
    return this.post(`/workspaces/${enc(workspaceId)}/transfer-ownership`, params);
  }

  members(workspaceId: string, params: ListParams = {}): Paginator<Member> {
    return this.paginate(`/workspaces/${enc(workspaceId)}/members`, params);
  }

  updateMember(workspaceId: string, userId: string, params: { role: string }): Promise<Member> {
    return this.patch(`/workspaces/${enc(workspaceId)}/members/${enc(userId)}`, params);
  }

  removeMember(workspaceId: string, userId: string): Promise<void> {
    return this.del(`/workspaces/${enc(workspaceId)}/members/${enc(userId)}`);
  }

  /** The returned `token` is what the invitee passes to `acceptInvitation`. */
  invite(workspaceId: string, params: { email: string; role?: string }): Promise<Invitation> {
    return this.post(`/workspaces/${enc(workspaceId)}/invitations`, params);
  }

  invitations(workspaceId: string, params: ListParams = {}): Paginator<Invitation> {
    return this.paginate(`/workspaces/${enc(workspaceId)}/invitations`, params);
  }

  revokeInvitation(workspaceId: string, invitationId: string): Promise<void> {
    return this.del(`/workspaces/${enc(workspaceId)}/invitations/${enc(invitationId)}`);
  }

  acceptInvitation(params: { token: string }): Promise<JSONObject> {
    return this.post("/invitations/accept", params);
  }
}
