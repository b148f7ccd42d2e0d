/**
 * Metric constructors bound to one registry, for the monitor's files alone.
 *
 * @module
 */

import client from "prom-client";

/** A counter in `registry`. */
export function counter(registry: client.Registry, name: string, help: string): client.Counter {
  return new client.Counter({ name, help, registers: [registry] });
}

/** A gauge in `registry` whose value is read when it is scraped. */
export function gauge(
  registry: client.Registry,
  name: string,
  help: string,
  value: () => number,
): void {
  new client.Gauge({
    name,
    help,
    registers: [registry],
    collect(this: client.Gauge) {
      this.set(value());
    },
  });
}
