/** Splits a Linux dev_t into major and minor numbers (glibc's encoding). */
export function splitDevice(dev: number | bigint): { major: number; minor: number } {
  const d = BigInt(dev);
  // 32-bit masks: the high bits of a major must not leak into the minor.
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n);
  const minor = (d & 0xffn) | ((d >> 12n) & 0xffffff00n);
  return { major: Number(major), minor: Number(minor) };
}

/** Joins major and minor numbers into a Linux dev_t (glibc's encoding); the inverse of {@link splitDevice}. */
export function makeDevice(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}
