// Every recipe the stack can build, in the order `strategy: auto` tries them: the first that fits
// the broken server is chosen. Adding a recipe is its file and one line here.
import type { Recipe } from "./recipe";
import { ephemeralRecipe } from "./ephemeral";
import { volumeBackedRecipe } from "./volumeBacked";

// prettier-ignore
export const RECIPES = [
    volumeBackedRecipe,
    ephemeralRecipe,
] as const satisfies readonly Recipe[];
