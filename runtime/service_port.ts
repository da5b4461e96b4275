/**
 * A port (an object of async methods, such as a store or the auth service) offered as a
 * service on a {@link ServiceBus}, and its stand-in for callers: `remotePort(...).m(x)`
 * runs `port.m(x)` on whichever node serves it, or in-process when this node does (the bus
 * short-circuits). Only the listed methods cross; anything else is refused.
 *
 * @module
 */

import type { ServiceBus, ServiceCallOptions } from "./service_bus.ts";

/** A request to a served port: method name and arguments. */
interface PortCall {
  readonly m: string;
  readonly a: readonly unknown[];
}

/**
 * Serves `methods` of `port` as `service`; resolves with the function that stops serving.
 *
 * @throws {TypeError} (as a rejection) when a method is not a function of `port`, or when
 *   the bus already serves `service`.
 *
 * @example
 * ```ts
 * const stop = await servePort(bus, "auth", authService, ["login", "register"]);
 * ```
 */
export function servePort<T extends object>(
  bus: ServiceBus,
  service: string,
  port: T,
  methods: readonly (keyof T & string)[],
): Promise<() => Promise<void>> {
  const allowed = new Set<string>(methods);
  for (const m of methods) {
    if (typeof port[m] !== "function") {
      return Promise.reject(new TypeError(`Cannot serve ${service}: ${m} is not a method`));
    }
  }
  return bus.serve(service, (request) => {
    const call = request as Partial<PortCall> | null;
    if (
      typeof call?.m !== "string" || !allowed.has(call.m) || !Array.isArray(call.a)
    ) {
      return Promise.reject(
        new TypeError(`Service ${service} refused a call: not one of ${methods.join(", ")}`),
      );
    }
    const method = port[call.m as keyof T] as (...args: unknown[]) => Promise<unknown>;
    return Promise.resolve(method.apply(port, call.a as unknown[]));
  });
}

/**
 * A stand-in for the `methods` of a port served as `service`: each call goes over `bus`
 * (in-process when this node serves it) and fails with the bus' errors when no node does
 * (`ServiceUnavailableError`) or none answers in time (`ServiceTimeoutError`).
 *
 * @example
 * ```ts
 * const auth = remotePort<AuthService, "login">(bus, "auth", ["login"]);
 * const result = await auth.login("alice", "secret", "phone", {});
 * ```
 */
export function remotePort<T extends object, K extends keyof T & string>(
  bus: ServiceBus,
  service: string,
  methods: readonly K[],
  options: ServiceCallOptions = {},
): Pick<T, K> {
  const stand = {} as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const m of methods) {
    stand[m] = (...a: unknown[]) => bus.call(service, { m, a } satisfies PortCall, options);
  }
  return stand as unknown as Pick<T, K>;
}
