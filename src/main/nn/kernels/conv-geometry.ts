/**
 * Convolution geometry shared by the gradient kernels: tfjs hands the kernels its own attrs ('same',
 * 'valid', a number or explicit padding, plus a rounding mode); everything below works from the explicit
 * per-side padding that tfjs's forward Conv2D itself resolved, so both directions agree exactly.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface ConvGeometry {
  n: number;
  h: number;
  w: number;
  cin: number;
  oh: number;
  ow: number;
  cout: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  /** Padding before the first row / column as the forward pass applied it. */
  pt: number;
  pl: number;
}

type PadAttr = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

export function convGeometry(
  xShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  strides: [number, number] | number,
  pad: PadAttr,
  dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined,
  dataFormat: 'NHWC' | 'NCHW',
): ConvGeometry {
  if (dataFormat !== 'NHWC') {
    throw new Error(`the wasm convolution gradients support dataFormat 'NHWC' only, got '${dataFormat}'`);
  }
  const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  return {
    n: info.batchSize,
    h: info.inHeight,
    w: info.inWidth,
    cin: info.inChannels,
    oh: info.outHeight,
    ow: info.outWidth,
    cout: info.outChannels,
    kh: info.filterHeight,
    kw: info.filterWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    pt: info.padInfo.top,
    pl: info.padInfo.left,
  };
}

/** Multiply-adds x2 of the forward convolution (equal to each of its two gradients). */
export function convFlops(g: ConvGeometry): number {
  return 2 * g.n * g.oh * g.ow * g.cout * g.kh * g.kw * g.cin;
}
