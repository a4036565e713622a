#version 330
// World-cache points as screen-aligned square splats (engine/world_cache/splats.py is the model; keep in sync).
uniform mat4 u_view;         // world -> OpenCV camera
uniform mat4 u_proj;         // OpenCV camera -> GL clip (engine.synth.renderer.projection_matrix)
uniform float u_focal;       // max(fx, fy) in pixels
uniform float u_scale;       // SPLAT_SCALE
uniform float u_max_px;      // MAX_SPLAT_PX
in vec3 in_pos;              // world position
in vec4 in_colour;           // RGB (+ padding), normalised bytes
in float in_size;            // splat diameter, scene units
out vec3 v_colour;
out float v_z;
out float v_size;
void main() {
    vec4 cam = u_view * vec4(in_pos, 1.0);
    v_z = cam.z;
    v_size = in_size;
    v_colour = in_colour.rgb;
    gl_PointSize = clamp(u_scale * in_size * u_focal / max(cam.z, 1e-6), 1.0, u_max_px);
    gl_Position = u_proj * cam;
}
