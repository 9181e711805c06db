// Python sources are bundled as text (esbuild loader ".py": "text" in scripts/build.mjs).
declare module "*.py" {
  const source: string;
  export default source;
}
