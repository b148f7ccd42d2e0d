/**
 * What the store contract's parts share: the harness a store's test file provides, the rows it
 * reads back, the times the tests use, and the shape of one contract test.
 *
 * @module
 */

import type { Store, StoreOptions } from "../../src/store/store.ts";

/** A ParcelStates row in the common shape (timestamps as docs/rules.md §3.5 text). */
export interface ParcelRow {
  parcelId: number;
  lastEventId: number;
  type: string;
  statusCode: string;
  runId: string | null;
  createdDateTimeUtc: string;
  pickupTimeUtc: string | null;
  deliveryTimeUtc: string | null;
}

/** A RejectedEvents row in the common shape. */
export interface RejectionRow {
  eventId: number | null;
  reason: string;
  payload: string;
}

/** What a store's test file provides: a fresh database and ways to look inside it. */
export interface StoreHarness {
  /** Open a new store (a new connection) on this harness's database. */
  open(options?: StoreOptions): Promise<Store>;
  /** ParcelStates, ordered by ParcelId. */
  parcels(): Promise<ParcelRow[]>;
  /** RejectedEvents, ordered by Id. */
  rejections(): Promise<RejectionRow[]>;
  /** Move the checkpoint by hand (what a reset does). */
  setCheckpoint(eventId: number): Promise<void>;
  /** Change the recorded checksum of migration 1, as if its file had been edited. */
  tamperMigrationChecksum(): Promise<void>;
  /** Drop the database and release everything. */
  cleanup(): Promise<void>;
  /** How a docs/rules.md §3.5 time reads back from this store (PostgreSQL keeps microseconds). */
  storedTime?(text: string): string;
}

/**
 * Register one contract test: `body` gets the harness, a store opened on a fresh database (not
 * migrated), and how a time reads back from the store.
 */
export type ContractTest = (
  title: string,
  body: (h: StoreHarness, store: Store, t: (text: string) => string) => Promise<void>,
) => void;

/** Times with all seven fraction digits, the first and last of them set. */
export const T1 = "2021-05-11T10:00:00.0000001Z";
/** A time with seven significant fraction digits. */
export const T2 = "2021-05-11T11:00:00.1234567Z";
/** A time whose fraction rounds up at microseconds. */
export const T3 = "2021-05-11T12:00:00.9999999Z";
