/**
 * A small hand-written feed that exercises every rule of docs/rules.md §3, and the tables it must
 * produce, written out by hand (not computed with the worker's code).
 *
 * @module
 */

import type { FeedEntry } from "../helpers/feed_server.ts";
import type { Tables } from "../helpers/tables.ts";

const event3 = {
  EventId: 3,
  ParcelId: 1,
  Type: "STATUS",
  CreatedDateTimeUtc: "2021-05-11T10:00:00.1234567Z",
  StatusCode: "IN_TRANSIT",
  Device: { DeviceTransactionId: 3, DeviceId: 103 },
  User: { UserId: "NC1001", CarrierId: "NC", RunId: "100" },
};
const event5 = {
  EventId: 5,
  ParcelId: 3,
  Type: "pickup",
  CreatedDateTimeUtc: "2021-05-11 11:30:00.5Z",
};

/** The fixture feed, keyed for paging. EventId 10 is a gap; 5 is sent twice in one page. */
export const FIXTURE_FEED: FeedEntry[] = [
  {
    key: 1,
    raw: {
      EventId: 1,
      ParcelId: 1,
      Type: "PICKUP",
      CreatedDateTimeUtc: "2021-05-11T08:00:00.1Z",
      StatusCode: "",
      Device: { DeviceTransactionId: 1, DeviceId: 103 },
      User: { UserId: "NC1001", CarrierId: "NC", RunId: "100" },
    },
  },
  {
    key: 2,
    raw: {
      EventId: 2,
      ParcelId: 2,
      Type: "PICKUP",
      CreatedDateTimeUtc: "2021-05-11T09:00:00+01:00",
      StatusCode: "",
      User: { RunId: 200 },
    },
  },
  { key: 3, raw: event3 },
  {
    key: 4,
    raw: { EventId: 4, ParcelId: 3, Type: "", CreatedDateTimeUtc: "2021-05-11T11:00:00Z" },
  },
  { key: 5, raw: event5 },
  { key: 5, raw: event5 },
  {
    key: 6,
    raw: {
      EventId: 6,
      ParcelId: 1,
      Type: " Delivery ",
      CreatedDateTimeUtc: "2021-05-11T11:59:59.9999999Z",
      StatusCode: "SIGNED",
      User: { RunId: "101" },
    },
  },
  {
    key: 7,
    raw: {
      EventId: 7,
      ParcelId: 2,
      Type: "DELIVERY",
      CreatedDateTimeUtc: "2021-05-11T12:00:00Z",
      User: { RunId: "200" },
    },
  },
  {
    key: 8,
    raw: {
      EventId: 8,
      ParcelId: 2,
      Type: "STATUS",
      CreatedDateTimeUtc: "2021-05-11T13:00:00.0000001Z",
      StatusCode: "RETURN_REQUEST",
      User: { RunId: "201" },
    },
  },
  {
    key: 9,
    raw: {
      EventId: 9,
      ParcelId: 1,
      Type: "DELIVERY",
      CreatedDateTimeUtc: "2021-05-11T14:00:00Z",
      User: { RunId: "102" },
    },
  },
  { key: 9, raw: "junk" },
  {
    key: 11,
    raw: {
      EventId: 11,
      ParcelId: 4,
      Type: "Customs_Hold",
      CreatedDateTimeUtc: "2021-05-11T14:30:00Z",
      StatusCode: 42,
      User: { RunId: null },
    },
  },
  {
    key: 12,
    raw: {
      EventId: 12,
      ParcelId: 3,
      Type: "PICKUP",
      CreatedDateTimeUtc: "2021-05-12T04:00:00.25+13:00",
      User: { RunId: 300 },
    },
  },
  {
    key: 13,
    raw: { EventId: 13, ParcelId: 5, Type: "PICKUP", CreatedDateTimeUtc: "2021-02-30T00:00:00Z" },
  },
  {
    key: 14,
    raw: {
      EventId: 14,
      ParcelId: 5,
      Type: "PICKUP",
      CreatedDateTimeUtc: "2021-05-11T16:00:00Z",
      User: { RunId: "500" },
    },
  },
  {
    key: 15,
    raw: { EventId: 15, ParcelId: "4", Type: "STATUS", CreatedDateTimeUtc: "2021-05-11T17:00:00Z" },
  },
];

/** What the fixture feed must leave in the database. */
export const FIXTURE_TABLES: Tables = {
  checkpoint: 15,
  parcels: [
    {
      ParcelId: 1,
      LastEventId: 9,
      Type: "DELIVERY",
      StatusCode: "",
      RunId: "102",
      CreatedDateTimeUtc: "2021-05-11T14:00:00.0000000Z",
      PickupTimeUtc: "2021-05-11T08:00:00.1000000Z",
      DeliveryTimeUtc: "2021-05-11T11:59:59.9999999Z",
    },
    {
      ParcelId: 2,
      LastEventId: 8,
      Type: "STATUS",
      StatusCode: "RETURN_REQUEST",
      RunId: "201",
      CreatedDateTimeUtc: "2021-05-11T13:00:00.0000001Z",
      PickupTimeUtc: "2021-05-11T08:00:00.0000000Z",
      DeliveryTimeUtc: "2021-05-11T12:00:00.0000000Z",
    },
    {
      ParcelId: 3,
      LastEventId: 12,
      Type: "PICKUP",
      StatusCode: "",
      RunId: "300",
      CreatedDateTimeUtc: "2021-05-11T15:00:00.2500000Z",
      PickupTimeUtc: "2021-05-11T11:30:00.5000000Z",
      DeliveryTimeUtc: null,
    },
    {
      ParcelId: 4,
      LastEventId: 11,
      Type: "CUSTOMS_HOLD",
      StatusCode: "42",
      RunId: null,
      CreatedDateTimeUtc: "2021-05-11T14:30:00.0000000Z",
      PickupTimeUtc: null,
      DeliveryTimeUtc: null,
    },
    {
      ParcelId: 5,
      LastEventId: 14,
      Type: "PICKUP",
      StatusCode: "",
      RunId: "500",
      CreatedDateTimeUtc: "2021-05-11T16:00:00.0000000Z",
      PickupTimeUtc: "2021-05-11T16:00:00.0000000Z",
      DeliveryTimeUtc: null,
    },
  ],
  rejected: [
    { EventId: 4, Reason: "Type is empty" },
    { EventId: null, Reason: "event must be a JSON object, got a string" },
    {
      EventId: 13,
      Reason: 'CreatedDateTimeUtc "2021-02-30T00:00:00Z" is not an ISO-8601 date-time',
    },
    { EventId: 15, Reason: "ParcelId must be an integer JSON number, got a string" },
  ],
};

/** The FromEventId of each request of a drain with Limit 3: always checkpoint + 1. */
export const FIXTURE_REQUESTS_AT_LIMIT_3 = [1, 4, 6, 9, 12, 15, 16];
