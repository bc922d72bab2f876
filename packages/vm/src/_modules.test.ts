import { describe, expect, it } from 'vitest';
import { orderModules } from './_modules.js';

const dep = `kernel/fs/9p/9p.ko.xz: kernel/fs/fscache/fscache.ko.xz kernel/net/9p/9pnet.ko kernel/fs/netfs/netfs.ko
kernel/net/9p/9pnet.ko:
kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/fs/fscache/fscache.ko.xz: kernel/fs/netfs/netfs.ko
kernel/fs/netfs/netfs.ko:
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
`;

describe('orderModules', () => {
  it('puts every module after the modules it depends on, once each, uncompressed names', () => {
    const order = orderModules(dep, '', ['virtio_pci', '9pnet_virtio', '9p']).map((m) => m.name);
    expect(new Set(order).size).toBe(order.length);
    expect(order.at(-1)).toBe('9p.ko');
    const before = (a: string, b: string) => expect(order.indexOf(a)).toBeLessThan(order.indexOf(b));
    before('virtio_ring.ko', 'virtio_pci.ko');
    before('9pnet.ko', '9pnet_virtio.ko');
    before('netfs.ko', 'fscache.ko');
    before('fscache.ko', '9p.ko');
  });

  it('skips built-in modules and names a missing one', () => {
    expect(orderModules('', 'kernel/fs/9p/9p.ko\n', ['9p'])).toEqual([]);
    expect(() => orderModules(dep, '', ['virtio_blk'])).toThrow(/virtio_blk not found in modules.dep/);
  });
});
