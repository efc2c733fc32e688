import { resolve } from 'node:path';
import { defineConfig } from 'vite';

// Two front ends, one build: the SPA at / and the authenticator PWA at /authenticator/.
export default defineConfig({
  root: resolve(import.meta.dirname),
  base: '/',
  build: {
    outDir: resolve(import.meta.dirname, 'dist'),
    emptyOutDir: true,
    rollupOptions: {
      input: {
        app: resolve(import.meta.dirname, 'index.html'),
        authenticator: resolve(import.meta.dirname, 'authenticator/index.html'),
      },
    },
  },
});
