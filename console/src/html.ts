import htm from 'htm';
import { h } from 'preact';

/** JSX-like templates without a compile step; every interpolated value is rendered as text. */
export const html = htm.bind(h);
