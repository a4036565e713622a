#version 330
// Nearest splat centre wins among splats of one surface: the depth test sees z + offset * size * r^2.
uniform float u_depth_offset;   // DEPTH_OFFSET
uniform vec2 u_ndc_z;           // (A, B) of the projection: ndc_z = A + B / z
in vec3 v_colour;
in float v_z;
in float v_size;
layout(location = 0) out vec4 f_colour;
layout(location = 1) out float f_depth;
void main() {
    vec2 d = 2.0 * gl_PointCoord - 1.0;
    float z = v_z + u_depth_offset * v_size * dot(d, d);
    gl_FragDepth = clamp(0.5 * (u_ndc_z.x + u_ndc_z.y / z) + 0.5, 0.0, 1.0);
    f_colour = vec4(v_colour, 1.0);
    f_depth = v_z;
}
