import { defineConfig } from 'vite';

// Fixed file names (no content hash): the C++ build embeds exactly these three files.
export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    modulePreload: false,
    cssCodeSplit: false,
    rollupOptions: {
      output: { entryFileNames: 'assets/app.js', assetFileNames: 'assets/app[extname]', inlineDynamicImports: true },
    },
  },
});
