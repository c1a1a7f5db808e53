/** The engine's version, as `docker version` and `info` show it. */
export const ENGINE_VERSION = '0.1.0';
