#version 330
#include "common.glsl"
// Textured, sun-lit, shadowed and fogged surfaces. Compiled twice: with TERRAIN defined (two ground
// layers blended) and without (objects: one layer). See scene.vert for the folded light terms.
uniform sampler2DArray u_textures;
uniform sampler2DShadow u_shadow;

in vec3 v_uv;
flat in vec3 v_layer;
in vec3 v_sun;
in vec3 v_ambient;
in vec3 v_fog;
in vec4 v_shadow;

out vec4 f_color;

// Slightly sharper than plain trilinear: the mip level is chosen by the larger screen derivative, which
// blurs ground seen at grazing angles (no anisotropic filtering: it is very slow in software GL).
const float LOD_BIAS = -0.5;

void main() {
    vec3 albedo = texture(u_textures, vec3(v_uv.xy, v_layer.x), LOD_BIAS).rgb;
#ifdef TERRAIN
    vec3 b = texture(u_textures, vec3(v_uv.xy * v_layer.z, v_layer.y), LOD_BIAS).rgb;
    // texture-modulated blend: irregular, crisp transitions instead of a linear fade across the grid cell
    float blend = v_uv.z;
    float lum = dot(b - albedo, vec3(0.333));
    float w = smoothstep(0.3, 0.7, blend + 0.6 * lum * (1.0 - abs(2.0 * blend - 1.0)));
    albedo = mix(albedo, b, w);
#endif
    float lit = 1.0 - v_shadow.w * (1.0 - texture(u_shadow, v_shadow.xyz));
    f_color = vec4(tonemap(albedo * (v_sun * lit + v_ambient) + v_fog), 1.0);
}
