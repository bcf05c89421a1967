import { describe, expect, it } from 'vitest';
import { comparabilityKey } from '../../src/shared/comparability';
import { describeDifference, describeKey, describeSteps, keyFields, metricAxisLabel } from '../../src/renderer/src/charts/key-text';

const key = comparabilityKey({
  featureNetwork: 'mnist-classifier-v1-3fa9c2d1',
  sampleCount: 1000,
  reference: 'mnist:train:10000:16x16x1',
  sampler: 'ddpm/fixed-small/clip',
  steps: '100',
  weights: 'ema',
});

describe('comparability keys in words', () => {
  it('lists every field in a fixed order with readable values', () => {
    expect(describeKey(key)).toBe(
      'feature network: mnist-classifier-v1-3fa9c2d1 · sample count: 1,000 · reference set: mnist:train:10000:16x16x1 · ' +
        'sampler: ddpm/fixed-small/clip · sampling steps: 100 · weights: EMA',
    );
  });

  it('skips fields the key leaves out (the x axis of a T\' chart)', () => {
    const noSteps = comparabilityKey({ featureNetwork: 'f', weights: 'raw' });
    expect(keyFields(noSteps).map((f) => f.value)).toEqual(['f', 'raw (no EMA)']);
    expect(describeKey('')).toBe('no comparability key');
  });

  it('names respacing specs the way the paper does', () => {
    expect(describeSteps('')).toBe('all T');
    expect(describeSteps('ddim50')).toBe('50 (DDIM stride)');
    expect(describeSteps('10,15,20')).toBe('45 (sections 10,15,20)');
    expect(describeSteps('100')).toBe('100');
  });

  it('says which fields two keys differ in', () => {
    const other = comparabilityKey({ featureNetwork: 'mnist-classifier-v1-3fa9c2d1', sampleCount: 500, reference: 'mnist:train:10000:16x16x1', sampler: 'ddim', steps: '100', weights: 'ema' });
    expect(describeDifference(other, key)).toBe('differs in sample count, sampler');
    expect(describeDifference(key, key)).toBe('same key');
  });

  it('labels the metric axis with its feature network', () => {
    expect(metricAxisLabel('fid', { featureNetwork: 'inception-2015' })).toBe('FID (inception-2015)');
    expect(metricAxisLabel('sfid', { featureNetwork: 'mnist-classifier-v1-3fa9c2d1' })).toBe('sFID (mnist-classifier-v1)');
    expect(metricAxisLabel('kid', {})).toBe('KID');
  });
});
