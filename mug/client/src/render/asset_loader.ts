// Loads a scene's declared sprite images (docs/assets.md) before its game starts, with progress,
// so a participant never plays with missing textures: an image that fails to load (a 404, a file
// that is not an image) rejects with an error naming it. Loaded once per page and scene.

import type { AssetsSpec } from "./sprites";

export type LoadedImages = Map<string, HTMLImageElement>;

export class AssetLoadError extends Error {}

const cache = new Map<string, Promise<LoadedImages>>();

/** The scene's images by texture key; `onProgress(loaded, total)` after each image. */
export function loadSceneAssets(
  sceneId: string,
  spec: AssetsSpec | null | undefined,
  onProgress: (loaded: number, total: number) => void,
): Promise<LoadedImages> {
  const textures = spec?.textures ?? [];
  const cached = cache.get(sceneId);
  if (cached) {
    void cached.then(() => onProgress(textures.length, textures.length), () => undefined);
    return cached;
  }
  let loaded = 0;
  onProgress(0, textures.length);
  const all = Promise.all(
    textures.map(
      (t) =>
        new Promise<[string, HTMLImageElement]>((resolve, reject) => {
          const img = new Image();
          img.onload = () => {
            loaded++;
            onProgress(loaded, textures.length);
            resolve([t.key, img]);
          };
          img.onerror = () => reject(new AssetLoadError(`the image '${t.key}' (${t.url}) could not be loaded`));
          img.src = new URL(t.url, window.location.href).href;
        }),
    ),
  ).then((pairs) => new Map(pairs));
  cache.set(sceneId, all);
  // A failed load may be retried by a later page view (e.g. after a reload), not served from the cache.
  all.catch(() => cache.delete(sceneId));
  return all;
}
