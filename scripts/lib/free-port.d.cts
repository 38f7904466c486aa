/** A TCP port free on 127.0.0.1 at this moment (see free-port.cjs). */
export declare function freePort(): Promise<number>;
