/** The marketplace and billing. */

import type { Paginator } from "../pagination.js";
import type { JSONObject, ListParams, Listing, Transaction, Wallet } from "../types.js";
import { Resource, enc } from "./base.js";

export interface ListingCreate {
  title: string;
  summary?: string;
  description?: string;
  category?: string;
  tags?: string[];
  iconUrl?: string | null;
  pricing?: { model?: string; price?: number };
  resourceType: "agent" | "workflow";
  resourceId: string;
  changelog?: string;
}

export interface ListingVersion {
  version: number;
  changelog: string;
  createdAt: string;
  /** What installing it needs and creates. */
  requirements: JSONObject;
  /** `version()` only: the full package, for the listing's own workspace (else null). */
  package?: JSONObject | null;
}

export class Marketplace extends Resource {
  /** Search published listings. */
  listings(
    params: ListParams & { q?: string; category?: string; pricing?: string; minRating?: number; creator?: string; sort?: string } = {},
  ): Paginator<Listing> {
    return this.paginate("/marketplace/listings", params);
  }

  create(params: ListingCreate): Promise<Listing> {
    return this.post("/marketplace/listings", params);
  }

  /** Your workspace's listings, in every status. */
  mine(params: ListParams = {}): Paginator<Listing> {
    return this.paginate("/marketplace/listings/mine", params);
  }

  retrieve(listingId: string): Promise<Listing> {
    return this.get(`/marketplace/listings/${enc(listingId)}`);
  }

  update(listingId: string, params: Partial<Omit<ListingCreate, "resourceType" | "resourceId">>): Promise<Listing> {
    return this.patch(`/marketplace/listings/${enc(listingId)}`, params);
  }

  delete(listingId: string): Promise<void> {
    return this.del(`/marketplace/listings/${enc(listingId)}`);
  }

  /** Send a draft to review. */
  submit(listingId: string): Promise<Listing> {
    return this.post(`/marketplace/listings/${enc(listingId)}/submit`);
  }

  /** Admin: publish a submitted listing. */
  approve(listingId: string): Promise<Listing> {
    return this.post(`/marketplace/listings/${enc(listingId)}/approve`);
  }

  /** Admin: send a submitted listing back with a reason. */
  reject(listingId: string, params: { reason: string }): Promise<Listing> {
    return this.post(`/marketplace/listings/${enc(listingId)}/reject`, params);
  }

  /** Admin: take a listing off the marketplace, with a reason (existing installs keep working). */
  remove(listingId: string, params: { reason: string }): Promise<Listing> {
    return this.post(`/marketplace/listings/${enc(listingId)}/remove`, params);
  }

  /** Admin: listings waiting for review. */
  reviewQueue(params: ListParams = {}): Paginator<Listing> {
    return this.paginate("/marketplace/review-queue", params);
  }

  /** Hide a published listing from search (still installable by id). */
  unlist(listingId: string): Promise<Listing> {
    return this.post(`/marketplace/listings/${enc(listingId)}/unlist`);
  }

  /** Put an unlisted listing back in search. */
  relist(listingId: string): Promise<Listing> {
    return this.post(`/marketplace/listings/${enc(listingId)}/relist`);
  }

  /** Publish a new version from the listing's agent or workflow as it is now. */
  createVersion(listingId: string, params: { changelog?: string } = {}): Promise<ListingVersion> {
    return this.post(`/marketplace/listings/${enc(listingId)}/versions`, params);
  }

  /** A version's requirements, and its package for the listing's own workspace. */
  version(listingId: string, version: number): Promise<ListingVersion> {
    return this.get(`/marketplace/listings/${enc(listingId)}/versions/${enc(String(version))}`);
  }

  /** Pay for a paid listing; sends an `Idempotency-Key` so a retry never charges twice. */
  purchase(listingId: string, options: { idempotencyKey?: string } = {}): Promise<JSONObject> {
    return this.core.request<JSONObject>("POST", `/marketplace/listings/${enc(listingId)}/purchase`, {
      idempotent: true,
      idempotencyKey: options.idempotencyKey,
    });
  }

  purchases(params: ListParams = {}): Paginator<JSONObject> {
    return this.paginate("/marketplace/purchases", params);
  }

  /** Copy the listing's agent or workflow into your workspace. */
  install(listingId: string, params: { version?: number | null; name?: string | null } = {}): Promise<JSONObject> {
    return this.post(`/marketplace/listings/${enc(listingId)}/install`, params);
  }

  installs(params: ListParams = {}): Paginator<JSONObject> {
    return this.paginate("/marketplace/installs", params);
  }

  retrieveInstall(installId: string): Promise<JSONObject> {
    return this.get(`/marketplace/installs/${enc(installId)}`);
  }

  /**
   * Move an install to another version (default: the latest). Settings you changed since
   * installing are kept and listed in `kept`.
   */
  updateInstall(installId: string, params: { version?: number | null } = {}): Promise<JSONObject> {
    return this.post(`/marketplace/installs/${enc(installId)}/update`, params);
  }

  reviews(listingId: string, params: ListParams = {}): Paginator<JSONObject> {
    return this.paginate(`/marketplace/listings/${enc(listingId)}/reviews`, params);
  }

  review(listingId: string, params: { rating: number; body?: string }): Promise<JSONObject> {
    return this.post(`/marketplace/listings/${enc(listingId)}/reviews`, params);
  }

  /** Edit your review. */
  updateReview(reviewId: string, params: { rating?: number; body?: string }): Promise<JSONObject> {
    return this.patch(`/marketplace/reviews/${enc(reviewId)}`, params);
  }

  /** Delete your review. */
  deleteReview(reviewId: string): Promise<void> {
    return this.del(`/marketplace/reviews/${enc(reviewId)}`);
  }

  /** The listing's creator replies to a review (once). */
  replyToReview(reviewId: string, params: { body: string }): Promise<JSONObject> {
    return this.post(`/marketplace/reviews/${enc(reviewId)}/reply`, params);
  }
}

export class Billing extends Resource {
  wallet(): Promise<Wallet> {
    return this.get("/billing/wallet");
  }

  transactions(params: ListParams = {}): Paginator<Transaction> {
    return this.paginate("/billing/transactions", params);
  }

  transaction(transactionId: string): Promise<Transaction> {
    return this.get(`/billing/transactions/${enc(transactionId)}`);
  }

  /** Admin: refund a transaction. */
  refund(transactionId: string, params: { reason?: string | null } = {}): Promise<Transaction> {
    return this.post(`/billing/transactions/${enc(transactionId)}/refund`, params);
  }

  /** Admin: give credits to a workspace. */
  grant(params: { workspaceId: string; credits: number; reason?: string | null }): Promise<Transaction> {
    return this.post("/billing/grants", params);
  }

  earnings(params: { period?: string; since?: string; until?: string } = {}): Promise<JSONObject> {
    return this.get("/billing/earnings", params);
  }

  /** A Stripe checkout session for buying credits (when payments are configured). */
  checkout(params: { credits: number; successUrl: string; cancelUrl: string }): Promise<JSONObject> {
    return this.post("/billing/checkout", params);
  }
}
