/** The llm-rate-limit core: limits, algorithms, stores. No Kong import. */
export * from './errors';
export * from './limits';
export * from './algorithms';
export * from './store';
export * from './limiter';
export { LocalStore, DEFAULT_MAX_ENTRIES, type LocalStoreOptions } from './local-store';
export { RedisStore, DEFAULT_KEY_PREFIX, type RedisClient, type RedisStoreOptions } from './redis-store';
export { LIMITER_LUA } from './redis-script';
export * from './redis-client';
export * from './fault-tolerant-store';
