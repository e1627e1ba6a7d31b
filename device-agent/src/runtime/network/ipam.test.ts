import { describe, expect, it } from 'vitest';
import { formatIpv4, Ipam, parseIpv4, parseSubnet } from './ipam.js';

describe('Ipam', () => {
  it('keeps the first host for the gateway and hands out the lowest free address', () => {
    const ipam = new Ipam('10.0.3.0/24');
    expect(ipam.gateway).toBe('10.0.3.1');
    expect(ipam.allocate('a')).toBe('10.0.3.2');
    expect(ipam.allocate('b')).toBe('10.0.3.3');
    expect(ipam.allocate('a')).toBe('10.0.3.2');
    ipam.release('a');
    expect(ipam.allocate('c')).toBe('10.0.3.2');
    expect(ipam.snapshot()).toEqual({ b: '10.0.3.3', c: '10.0.3.2' });
  });
  it('restores saved allocations and refuses broken ones', () => {
    const ipam = new Ipam('10.0.3.0/24', { web: '10.0.3.9' });
    expect(ipam.allocate('web')).toBe('10.0.3.9');
    expect(() => new Ipam('10.0.3.0/24', { a: '10.0.4.2' })).toThrow(/outside 10.0.3.0\/24 hosts/);
    expect(() => new Ipam('10.0.3.0/24', { a: '10.0.3.1' })).toThrow(/outside/);
    expect(() => new Ipam('10.0.3.0/24', { a: '10.0.3.5', b: '10.0.3.5' })).toThrow(/duplicates/);
  });
  it('says when the subnet is full, never reusing broadcast', () => {
    const ipam = new Ipam('10.0.3.0/30');
    expect(ipam.allocate('a')).toBe('10.0.3.2');
    expect(() => ipam.allocate('b')).toThrow(/no free address left in 10.0.3.0\/30 for b/);
  });
  it('parses and rejects addresses and subnets clearly', () => {
    expect(formatIpv4(parseIpv4('192.168.1.254'))).toBe('192.168.1.254');
    expect(() => parseIpv4('1.2.3.256')).toThrow(/not an IPv4 address/);
    expect(() => parseSubnet('10.0.3.1/24')).toThrow(/host bits set; use 10.0.3.0\/24/);
    expect(() => parseSubnet('10.0.3.0/31')).toThrow(/\/8..\/30/);
    expect(() => parseSubnet('10.0.3.0')).toThrow(/CIDR/);
  });
});
